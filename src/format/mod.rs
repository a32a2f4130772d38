//! Item to WhatsApp message. A pure function: same item and options, same message.
//!
//! Layout (the contract's `text`):
//!
//! ```text
//! *Title*
//!
//! A few plain sentences, cut at a sentence or word boundary.
//!
//! https://official.link/to/the/page
//!
//! Optional footer
//! ```

pub mod html;
mod promise;
#[cfg(test)]
mod props;
pub mod styles;

pub use promise::broken_promise;

use crate::config::Priority;
use crate::ident::strip_tracking;
use crate::ident::Identity;
use crate::item::{Item, Message};
use crate::text::{
    html_to_text, neutralise_markers, neutralise_text_markers, strip_boilerplate, truncate,
};

/// WhatsApp's hard limit on a text message body.
pub const MAX_TEXT: usize = 4096;
/// Default summary budget, in characters.
pub const DEFAULT_MAX_CHARS: usize = 700;
/// Titles longer than this are cut (a CAP headline can run to hundreds of characters).
pub const MAX_TITLE: usize = 200;

/// Per-source formatting options.
#[derive(Debug, Clone)]
pub struct FormatOptions {
    pub source: String,
    pub kind: String,
    pub max_chars: usize,
    pub footer: Option<String>,
    pub priority: Priority,
    /// A line under the title ("Pubblicato venerdì 28 novembre 2026.").
    pub note: Option<String>,
    /// The editor's template (prefix by category or source, label line).
    pub template: crate::config::MessageTemplate,
}

impl FormatOptions {
    pub fn new(source: &str, kind: &str) -> Self {
        FormatOptions {
            source: source.to_owned(),
            kind: kind.to_owned(),
            max_chars: DEFAULT_MAX_CHARS,
            footer: None,
            priority: Priority::Normal,
            note: None,
            template: crate::config::MessageTemplate::default(),
        }
    }
}

/// Why an item cannot become a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("the item has no link to an official page")]
    NoLink,
    #[error("the item has neither a title nor a text")]
    Empty,
    #[error("the message would be longer than WhatsApp allows (its link or footer is too long)")]
    TooLong,
}

/// Formats one item.
pub fn format(
    item: &Item,
    identity: &Identity,
    opts: &FormatOptions,
) -> Result<Message, FormatError> {
    let mut url = strip_tracking(item.url.as_ref().ok_or(FormatError::NoLink)?);
    // A fragment points inside the page; the message links the page (a "#!/…" route stays).
    if url.fragment().is_some_and(|f| !f.starts_with(['/', '!'])) {
        url.set_fragment(None);
    }
    let url = url.as_str();
    // A title with markup ("Sagra <i>2026</i>", "&amp;lt;b&amp;gt;") ends as its text.
    let plain_title = if item.title.contains(['<', '&']) {
        html_to_text(&item.title)
    } else {
        item.title.trim().to_owned()
    };
    let title = truncate(&neutralise_markers(&plain_title), MAX_TITLE);
    // The editor's prefix: the item's category's first, else the source's.
    let prefix = item
        .tags
        .iter()
        .find_map(|tag| {
            let tag = crate::ident::normalise_title(tag);
            opts.template
                .tag_prefixes
                .iter()
                .find(|(t, _)| crate::ident::normalise_title(t) == tag)
                .map(|(_, p)| p.as_str())
        })
        .or(opts.template.prefix.as_deref());
    // "🚧 Lavori – Chiusura di via Roma"; an emoji alone needs no dash: "📰 Chiusura …".
    let shown_title = match prefix.map(neutralise_markers) {
        Some(p) if !title.is_empty() => {
            let words = p.chars().last().is_some_and(char::is_alphanumeric);
            format!("{p}{}{title}", if words { " – " } else { " " })
        }
        _ => title.clone(),
    };
    let label = opts.template.label.as_deref();
    let mut summary = if item.plain {
        plain_paragraphs(&item.summary)
    } else {
        strip_boilerplate(&html_to_text(&item.summary))
    };
    // A text that only repeats the title says nothing more.
    let said = crate::ident::normalise_title(&plain_title);
    if !said.is_empty() && crate::ident::normalise_title(&summary) == said {
        summary.clear();
    }
    // Feeds often repeat the title as the first sentence of the summary.
    if !title.is_empty() && summary.starts_with(&plain_title) && summary.len() > plain_title.len() {
        let rest = summary[plain_title.len()..].trim_start_matches([' ', '.', ':', '-', '–']);
        // What is left starts a sentence.
        let mut chars = rest.chars();
        summary = match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        };
    }
    if title.is_empty() && summary.is_empty() {
        return Err(FormatError::Empty);
    }
    let footer = opts
        .footer
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty());
    // Everything but the summary, so the summary gets what is left of the hard limit.
    let note = opts.note.as_deref().filter(|n| !n.is_empty());
    let fixed = shown_title.chars().count()
        + label.map_or(0, |l| l.chars().count() + 2)
        + note.map_or(0, |n| n.chars().count() + 2)
        + url.chars().count()
        + footer.map_or(0, |f| f.chars().count() + 2)
        + 8;
    let budget = opts.max_chars.min(MAX_TEXT.saturating_sub(fixed));
    // Markers are neutralised after the cut, which could leave a "_" at a word's edge.
    let summary = neutralise_text_markers(&truncate(&summary, budget))
        .trim()
        .to_owned();
    if title.is_empty() && summary.is_empty() {
        return Err(FormatError::Empty); // it was only markers
    }

    let mut text = String::with_capacity(title.len() + summary.len() + url.len() + 16);
    if !title.is_empty() {
        text.push('*');
        text.push_str(&shown_title);
        text.push_str("*\n\n");
    }
    if let Some(label) = label {
        text.push_str(&neutralise_text_markers(label));
        text.push_str("\n\n");
    }
    if let Some(note) = note {
        text.push_str(note);
        text.push_str("\n\n");
    }
    if !summary.is_empty() {
        text.push_str(&summary);
        text.push_str("\n\n");
    }
    text.push_str(url);
    if let Some(footer) = footer {
        text.push_str("\n\n");
        text.push_str(footer);
    }
    if text.chars().count() > MAX_TEXT {
        return Err(FormatError::TooLong);
    }
    let message = Message {
        id: identity.message_id(&opts.source),
        source: opts.source.clone(),
        kind: opts.kind.clone(),
        title: if title.is_empty() {
            truncate(&summary, 80)
        } else {
            title
        },
        url: url.to_owned(),
        text,
        image: item.picture().filter(usable_image).map(|u| u.to_string()),
        priority: item.priority.unwrap_or(opts.priority),
        published: item
            .published
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        tags: item.tags.clone(),
        extra: item.extra.clone(),
    };
    debug_assert_eq!(broken_promise(&message, opts), None);
    Ok(message)
}

/// An image worth sending: on the web (never `data:`), and not a tracking pixel.
fn usable_image(url: &url::Url) -> bool {
    const PIXELS: [&str; 10] = [
        "pixel",
        "spacer.gif",
        "blank.gif",
        "1x1",
        "stats.wordpress.com",
        "feeds.feedburner.com/~r",
        "feedburner.com/~ff",
        "doubleclick.net",
        "/wf/open",
        "/track/open",
    ];
    let text = url.as_str().to_ascii_lowercase();
    matches!(url.scheme(), "http" | "https") && !PIXELS.iter().any(|p| text.contains(p))
}

/// Plain text kept in paragraphs: whitespace collapsed inside each, one blank line between.
fn plain_paragraphs(text: &str) -> String {
    // An alert's text is plain, but some issuers write markup or entities into it.
    text.split("\n\n")
        .map(crate::text::plain_to_text)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_title_ends_as_text() {
        let item = Item {
            title: "Sagra della castagna <i>2026</i> &amp; mercato".into(),
            url: Some(url::Url::parse("https://comune.example.it/sagra/").unwrap()),
            ..Item::default()
        };
        let m = format(
            &item,
            &Identity::of(&item),
            &FormatOptions::new("c", "feed"),
        )
        .unwrap();
        assert_eq!(m.title, "Sagra della castagna 2026 & mercato");
    }

    #[test]
    fn the_editors_template_prefix_by_category_label_and_note() {
        let mut opts = FormatOptions::new("comune", "feed");
        opts.template = crate::config::MessageTemplate {
            prefix: Some("📰".into()),
            tag_prefixes: vec![("lavori".into(), "🚧 Lavori".into())],
            label: Some("Ufficio tecnico".into()),
            show_date: true,
        };
        opts.note = Some("Pubblicato martedì 25 novembre 2025.".into());
        let mut item = Item {
            title: "Chiusura di via Roma".into(),
            summary: "Dalle 8 alle 18.".into(),
            url: Some(url::Url::parse("https://comune.example.it/a#commenti").unwrap()),
            tags: vec!["Lavori".into()],
            ..Item::default()
        };
        let m = format(&item, &Identity::of(&item), &opts).unwrap();
        assert_eq!(
            m.text,
            "*🚧 Lavori – Chiusura di via Roma*\n\nUfficio tecnico\n\nPubblicato martedì 25 novembre 2025.\n\nDalle 8 alle 18.\n\nhttps://comune.example.it/a"
        );
        assert_eq!(m.title, "Chiusura di via Roma", "the title stays plain");
        item.tags.clear();
        let m = format(&item, &Identity::of(&item), &opts).unwrap();
        assert!(
            m.text.starts_with("*📰 Chiusura di via Roma*"),
            "{}",
            m.text
        );
    }
    use chrono::TimeZone;
    use url::Url;

    fn item() -> Item {
        Item {
            guid: Some("n-42".into()),
            url: Some(Url::parse("https://www.comune.example.it/notizie/acqua?utm_source=rss").unwrap()),
            title: "Interruzione *idrica* in via_Roma".into(),
            summary: "<p>Martedì 25 novembre dalle 8 alle 14 l&#8217;acqua sarà sospesa in via Roma per lavori alla rete.</p> \
                      <p>I residenti sono invitati a fare scorta. Per informazioni chiamare il numero verde.</p>"
                .into(),
            image: Some(Url::parse("https://www.comune.example.it/img/acqua.jpg").unwrap()),
            published: Some(chrono::Utc.with_ymd_and_hms(2025, 11, 24, 9, 0, 0).unwrap()),
            tags: vec!["Avvisi".into()],
            ..Item::default()
        }
    }

    fn fmt(item: &Item, opts: &FormatOptions) -> Message {
        format(item, &Identity::of(item), opts).unwrap()
    }

    #[test]
    fn snapshot_default_layout() {
        let msg = fmt(&item(), &FormatOptions::new("comune-notizie", "feed"));
        insta::assert_snapshot!(msg.text, @r"
        *Interruzione ∗idrica∗ in via Roma*

        Martedì 25 novembre dalle 8 alle 14 l’acqua sarà sospesa in via Roma per lavori alla rete. I residenti sono invitati a fare scorta. Per informazioni chiamare il numero verde.

        https://www.comune.example.it/notizie/acqua
        ");
        insta::assert_json_snapshot!(msg, @r#"
        {
          "id": "0fa32bfe158d9c9d5cb5f50f",
          "source": "comune-notizie",
          "kind": "feed",
          "title": "Interruzione ∗idrica∗ in via Roma",
          "url": "https://www.comune.example.it/notizie/acqua",
          "text": "*Interruzione ∗idrica∗ in via Roma*\n\nMartedì 25 novembre dalle 8 alle 14 l’acqua sarà sospesa in via Roma per lavori alla rete. I residenti sono invitati a fare scorta. Per informazioni chiamare il numero verde.\n\nhttps://www.comune.example.it/notizie/acqua",
          "image": "https://www.comune.example.it/img/acqua.jpg",
          "priority": "normal",
          "published": "2025-11-24T09:00:00Z",
          "tags": [
            "Avvisi"
          ]
        }
        "#);
    }

    #[test]
    fn snapshot_short_budget_and_footer() {
        let mut opts = FormatOptions::new("comune-notizie", "feed");
        opts.max_chars = 100;
        opts.footer = Some("Comune di Esempio · canale ufficiale".into());
        let msg = fmt(&item(), &opts);
        insta::assert_snapshot!(msg.text, @r"
        *Interruzione ∗idrica∗ in via Roma*

        Martedì 25 novembre dalle 8 alle 14 l’acqua sarà sospesa in via Roma per lavori alla rete.

        https://www.comune.example.it/notizie/acqua

        Comune di Esempio · canale ufficiale
        ");
    }

    #[test]
    fn link_is_alone_on_its_line_and_text_within_limits() {
        let mut long = item();
        long.summary = "parola ".repeat(2000);
        long.title = "T".repeat(500);
        let mut opts = FormatOptions::new("s", "feed");
        opts.max_chars = 3000;
        let msg = fmt(&long, &opts);
        assert!(msg.text.chars().count() <= MAX_TEXT);
        assert!(msg.text.lines().any(|l| l == msg.url));
        assert!(msg.title.chars().count() <= MAX_TITLE);
    }

    #[test]
    fn summary_repeating_title_is_trimmed() {
        let mut it = item();
        it.title = "Mercato sospeso".into();
        it.summary = "Mercato sospeso. Il mercato di sabato non si terrà.".into();
        let msg = fmt(&it, &FormatOptions::new("s", "feed"));
        assert!(msg
            .text
            .contains("*Mercato sospeso*\n\nIl mercato di sabato non si terrà."));
    }

    #[test]
    fn no_link_is_an_error() {
        let mut it = item();
        it.url = None;
        assert_eq!(
            format(&it, &Identity::of(&it), &FormatOptions::new("s", "feed")),
            Err(FormatError::NoLink)
        );
    }
}
