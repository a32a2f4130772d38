//! Which new items become messages: the source's `forward` mode, its editors' tags, and its
//! `include`/`exclude` patterns. Pure.

use regex::Regex;

use crate::config::{Forward, SourceConfig};
use crate::ident::normalise_title;
use crate::item::Item;

/// The decision about one new item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Not wanted: recorded as seen, never sent.
    Drop(String),
    /// Not tagged for forwarding yet: left unrecorded, so that if an editor tags it later in
    /// the CMS it is sent then.
    Wait(String),
    /// Goes to the review queue for an editor to approve, edit or reject.
    Review,
}

/// A source's compiled rules.
#[derive(Debug, Clone)]
pub struct Policy {
    forward: Forward,
    tags: Vec<String>,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
    review_urgent: bool,
}

impl Policy {
    /// A source's rules (its patterns were compiled when the configuration was loaded).
    pub fn new(src: &SourceConfig) -> Policy {
        Policy {
            forward: src.forward,
            tags: src.tags.iter().map(|t| normalise_title(t)).collect(),
            include: src.include.clone(),
            exclude: src.exclude.clone(),
            review_urgent: src.review_urgent,
        }
    }

    pub fn judge(&self, item: &Item) -> Verdict {
        if self.forward == Forward::Tagged
            && !item
                .tags
                .iter()
                .any(|t| self.tags.contains(&normalise_title(t)))
        {
            return Verdict::Wait("not tagged for forwarding".into());
        }
        let haystack = format!("{}\n{}", item.title, item.summary);
        if !self.include.is_empty() && !self.include.iter().any(|r| r.is_match(&haystack)) {
            return Verdict::Drop("matches no include pattern".into());
        }
        if let Some(r) = self.exclude.iter().find(|r| r.is_match(&haystack)) {
            return Verdict::Drop(format!("matches exclude pattern {:?}", r.as_str()));
        }
        if self.forward == Forward::Review {
            let urgent = item.priority == Some(crate::config::Priority::Urgent);
            if !urgent || self.review_urgent {
                return Verdict::Review;
            }
        }
        Verdict::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn policy(extra: &str) -> Policy {
        let text = format!(
            "[[source]]\nname = \"s\"\nkind = \"feed\"\nurl = \"https://a.example/\"\n{extra}\n[[sink]]\nname = \"c\"\nkind = \"console\"\n"
        );
        Policy::new(&Config::parse(&text).unwrap().sources[0])
    }

    fn item(title: &str, tags: &[&str]) -> Item {
        Item {
            title: title.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..Item::default()
        }
    }

    #[test]
    fn tags_compare_without_case_or_accents() {
        let p = policy("forward = \"tagged\"\ntags = [\"Pubblicità WhatsApp\"]");
        assert_eq!(p.judge(&item("x", &["pubblicita whatsapp"])), Verdict::Send);
        assert!(matches!(p.judge(&item("x", &["Eventi"])), Verdict::Wait(_)));
    }

    #[test]
    fn include_and_exclude() {
        let p = policy("include = [\"(?i)interruzione\"]\nexclude = [\"(?i)bando di gara\"]");
        assert_eq!(p.judge(&item("Interruzione idrica", &[])), Verdict::Send);
        assert!(matches!(p.judge(&item("Mercato", &[])), Verdict::Drop(_)));
        assert!(matches!(
            p.judge(&item("Interruzione: bando di gara", &[])),
            Verdict::Drop(_)
        ));
        assert_eq!(policy("").judge(&item("Qualsiasi", &[])), Verdict::Send);
    }

    #[test]
    fn review_holds_items_but_urgent_ones_skip_it() {
        let p = policy("forward = \"review\"");
        assert_eq!(p.judge(&item("Avviso", &[])), Verdict::Review);
        let mut urgent = item("Allerta", &[]);
        urgent.priority = Some(crate::config::Priority::Urgent);
        assert_eq!(p.judge(&urgent), Verdict::Send);
        let strict = policy("forward = \"review\"\nreview_urgent = true");
        assert_eq!(strict.judge(&urgent), Verdict::Review);
    }
}
