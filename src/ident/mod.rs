//! Identity of items: a stable id per item and the secondary keys used to recognise an item
//! whose guid or URL changed.
//!
//! **Stability invariant.** Everything here feeds keys stored on disk. Changing how a URL is
//! canonicalised, a title normalised or a key hashed makes every stored key unrecognisable and
//! re-sends whole feeds after an upgrade. Such a change needs a store migration; the tests
//! at the bottom pin the current outputs.

use chrono::{DateTime, Datelike, Utc};
use sha2::{Digest, Sha256};
use url::Url;

use crate::item::Item;

mod gist;

/// Query parameters that only track clicks; they never identify a page.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "yclid",
    "igshid",
    "_ga",
    "_gl",
    "ref",
    "ref_src",
    "cmpid",
    "wt_mc",
    "at_medium",
    "at_campaign",
    "ito",
    "xtor",
];

/// A URL reduced to what identifies the page: no scheme (http and https are the same page),
/// no fragment, no default port, lower-case host without "www.", no trailing slash, no
/// tracking parameters, and the remaining parameters sorted.
pub fn canonical_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let mut out = String::with_capacity(url.as_str().len());
    out.push_str(host);
    if let Some(port) = url.port() {
        // url already drops the scheme's default port; 80 on https (or 443 on http) stays.
        out.push(':');
        out.push_str(&port.to_string());
    }
    let path = url.path();
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        ""
    };
    out.push_str(path);
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_tracking(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !params.is_empty() {
        params.sort();
        out.push('?');
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        out.push_str(&query.join("&"));
    }
    out
}

/// The URL without click-tracking parameters (`utm_*`, `fbclid`, …): the link a citizen
/// gets is the official page, nothing more.
pub fn strip_tracking(url: &Url) -> Url {
    if url.query().is_none() {
        return url.clone();
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_tracking(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url.clone();
    if kept.is_empty() {
        out.set_query(None);
    } else {
        out.query_pairs_mut().clear().extend_pairs(kept);
    }
    out
}

fn is_tracking(param: &str) -> bool {
    let k = param.to_ascii_lowercase();
    k.starts_with("utm_") || TRACKING_PARAMS.contains(&k.as_str())
}

/// A title reduced to its words: lower case, accents folded, punctuation dropped.
pub fn normalise_title(title: &str) -> String {
    // Lower case, accents folded, anything but letters and digits as one space between words.
    let mut out = String::with_capacity(title.len());
    let mut gap = false;
    let mut push = |c: char| {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    };
    for c in title.chars() {
        // Most of a title is ASCII, whose lower case is one char: only the rest needs
        // Unicode's tables (this runs for every item of every changed document).
        if c.is_ascii() {
            push(c.to_ascii_lowercase());
        } else {
            c.to_lowercase().map(fold_accent).for_each(&mut push);
        }
    }
    out
}

/// Folds the accented letters of Italian and neighbouring languages to their base letter.
/// (A full Unicode decomposition crate would be more general; this table covers the letters
/// comune sites use and keeps the stored keys independent of a dependency's tables.)
pub fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        c => c,
    }
}

/// The kinds of key an item is known by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeyKind {
    Guid = b'g',
    Url = b'u',
    Title = b't',
    Content = b'h',
}

impl KeyKind {
    /// The kind of a stored key's first byte.
    pub fn of(byte: u8) -> Option<KeyKind> {
        [
            KeyKind::Guid,
            KeyKind::Url,
            KeyKind::Title,
            KeyKind::Content,
        ]
        .into_iter()
        .find(|k| *k as u8 == byte)
    }
}

/// One dedupe key: its kind and a 16-byte hash of what it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub kind: u8,
    pub hash: [u8; 16],
}

impl Key {
    fn new(kind: KeyKind, value: &str) -> Key {
        let digest = Sha256::digest(value.as_bytes());
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&digest[..16]);
        Key {
            kind: kind as u8,
            hash,
        }
    }
}

/// Keys that recognise the same story in another source of the same comune: its own
/// canonical link, or its title on the same site when specific enough (four words or more:
/// "Interruzione idrica" recurs, "Chiusura del ponte sul Po per lavori" does not), each
/// together with the opening words of its text: the news feed and the press-release page
/// carry the same release. Neither a title nor a link alone is a story: one comune from
/// week to week, and comuni among themselves, publish notices with the same title and
/// other facts ("Sportello anagrafe chiuso per aggiornamento informatico"), and a page's
/// text changes under the same link. An item with no text to compare is matched by its
/// link, or its title on the same site, alone.
///
/// Besides, a title specific enough to name a story by itself (a date or a number in it, or
/// seven words: see [`gist`](gist::gist)) is matched by its gist on the same site, so the
/// same news under titles that differ only in form is one story.
pub fn story_keys(item: &Item) -> Vec<Key> {
    let text = if item.plain {
        normalise_title(&item.summary)
    } else {
        normalise_title(&words_of_html(&item.summary))
    };
    let opening: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).take(12).collect();
    let opening = if opening.len() >= 4 {
        opening.join(" ")
    } else {
        String::new()
    };
    let mut keys = Vec::with_capacity(3);
    let Some(url) = item.url.as_ref() else {
        return keys;
    };
    if !item.url_inherited {
        keys.push(Key::new(
            KeyKind::Url,
            &format!("story\u{0}{}\u{0}{opening}", canonical_url(url)),
        ));
    }
    let title = normalise_title(&item.title);
    if let (true, Some(host)) = (title.split(' ').count() >= 4, url.host_str()) {
        let site = host.trim_start_matches("www.");
        keys.push(Key::new(
            KeyKind::Title,
            &format!("story\u{0}{site}\u{0}{title}\u{0}{opening}"),
        ));
    }
    if let (Some(gist), Some(host)) = (gist::gist(&item.title), url.host_str()) {
        let site = host.trim_start_matches("www.");
        keys.push(Key::new(
            KeyKind::Title,
            &format!("story\u{0}gist\u{0}{site}\u{0}{gist}"),
        ));
    }
    keys
}

/// The words of an HTML text, enough to compare two texts: tags dropped, entities decoded.
/// (html2text would render it properly, at ten times the cost, for words that are the same.)
fn words_of_html(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    html_escape::decode_html_entities(&text).into_owned()
}

/// An item's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// guid, else canonical link, else a hash of the content; prefixed with its kind.
    pub primary: String,
    /// Every key the item is known by; the first is the primary's.
    pub keys: Vec<Key>,
}

impl Identity {
    pub fn of(item: &Item) -> Identity {
        let mut keys = Vec::with_capacity(3);
        let mut primary = None;
        if let Some(guid) = item
            .guid
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
        {
            keys.push(Key::new(KeyKind::Guid, guid));
            primary = Some(format!("guid:{guid}"));
        }
        for alt in &item.alt_ids {
            keys.push(Key::new(KeyKind::Guid, alt));
        }
        if let (true, Some(primary)) = (item.strict_id, &primary) {
            return Identity {
                primary: primary.clone(),
                keys,
            };
        }
        if let Some(url) = item.url.as_ref().filter(|_| !item.url_inherited) {
            let canon = canonical_url(url);
            keys.push(Key::new(KeyKind::Url, &canon));
            primary.get_or_insert_with(|| format!("url:{canon}"));
        }
        let title = normalise_title(&item.title);
        if !title.is_empty() {
            keys.push(Key::new(KeyKind::Title, &title_key(&title, item.published)));
        }
        let primary = primary.unwrap_or_else(|| {
            let content = format!("{}\u{0}{}", item.title.trim(), item.summary.trim());
            let key = Key::new(KeyKind::Content, &content);
            keys.insert(0, key);
            format!("hash:{}", hex::encode(key.hash))
        });
        Identity { primary, keys }
    }

    /// The message id: short, stable, and the same for the same item of the same source.
    pub fn message_id(&self, source: &str) -> String {
        let digest = Sha256::digest(format!("{source}\u{0}{}", self.primary).as_bytes());
        hex::encode(&digest[..12])
    }
}

/// A title alone would merge recurring notices ("Interruzione idrica"), so the day of
/// publication is part of the title key when the item has one.
fn title_key(normalised: &str, published: Option<DateTime<Utc>>) -> String {
    match published {
        // What chrono's "%Y-%m-%d" writes for years 0 to 9999, without parsing a format string
        // for every item; other years keep chrono's own spelling.
        Some(d) if (0..=9999).contains(&d.year()) => {
            format!(
                "{normalised}|{:04}-{:02}-{:02}",
                d.year(),
                d.month(),
                d.day()
            )
        }
        Some(d) => format!("{normalised}|{}", d.format("%Y-%m-%d")),
        None => normalised.to_owned(),
    }
}

#[cfg(test)]
mod tests;
