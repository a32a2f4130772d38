//! `[[topic]]` and `[[zone]]`: what citizens may choose to receive. A topic gathers items by
//! source, by tag and (with `urgent`) every urgent one; a zone (a frazione, a quartiere) by
//! the words that name it in a text. Citizens choose by keyword ("ISCRIVIMI ALLERTE",
//! "STOP EVENTI", "ISCRIVIMI SAN ROCCO"); the `audience` module decides who gets what.

/// A `[[topic]]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Topic {
    /// Its name in the store, the exports and `topics = [...]` of a sink.
    pub name: String,
    /// What citizens read ("Allerte di protezione civile").
    pub label: String,
    /// The words that choose it ("ALLERTE", "protezione civile"), as written.
    pub keywords: Vec<String>,
    /// Items of these sources belong to it …
    pub sources: Vec<String>,
    /// … and items with one of these tags (case aside) …
    pub tags: Vec<String>,
    /// … and, when set, every urgent item.
    pub urgent: bool,
    /// What a subscriber who chose nothing receives: the default topics (when none is
    /// marked, everything).
    pub default: bool,
}

/// A `[[zone]]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    pub label: String,
    /// The words that name it in a text ("San Rocco"), as written; also its keywords.
    pub words: Vec<String>,
}

/// The topics and zones of a configuration (both empty: everyone gets everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audience {
    pub topics: Vec<Topic>,
    pub zones: Vec<Zone>,
}

impl Audience {
    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.name == name)
    }

    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }
}
