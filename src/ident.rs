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
    let mut keys = Vec::with_capacity(2);
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
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        canonical_url(&Url::parse(s).unwrap())
    }

    #[test]
    fn title_key_day_is_spelled_as_chrono_spells_it() {
        for (y, m, d) in [(2025, 3, 7), (999, 12, 31), (1, 1, 1), (9999, 1, 2)] {
            let at = chrono::NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(23, 59, 0)
                .unwrap()
                .and_utc();
            assert_eq!(
                title_key("t", Some(at)),
                format!("t|{}", at.format("%Y-%m-%d"))
            );
        }
    }

    #[test]
    fn canonical_urls_fold_scheme_tracking_and_fragment() {
        assert_eq!(
            canon("https://www.Comune.Example.it/notizie/lavori/?utm_source=fb&id=3&fbclid=x#top"),
            "comune.example.it/notizie/lavori?id=3"
        );
        assert_eq!(
            canon("http://comune.example.it/notizie/lavori"),
            "comune.example.it/notizie/lavori"
        );
        assert_eq!(canon("https://a.example/?b=2&a=1"), "a.example?a=1&b=2");
        assert_eq!(canon("https://a.example:8443/x"), "a.example:8443/x");
        assert_eq!(canon("http://a.example:80/x"), "a.example/x");
    }

    #[test]
    fn tracking_is_stripped_from_links() {
        let u = Url::parse("https://a.example/n/?utm_source=rss&utm_medium=rss").unwrap();
        assert_eq!(strip_tracking(&u).as_str(), "https://a.example/n/");
        let u = Url::parse("https://a.example/n?id=3&fbclid=x#p").unwrap();
        assert_eq!(strip_tracking(&u).as_str(), "https://a.example/n?id=3#p");
    }

    #[test]
    fn titles_normalise() {
        assert_eq!(
            normalise_title("  Interruzione  IDRICA: via Roma!"),
            "interruzione idrica via roma"
        );
        assert_eq!(normalise_title("Città più sicura"), "citta piu sicura");
    }

    fn item(guid: Option<&str>, url: Option<&str>, title: &str) -> Item {
        Item {
            guid: guid.map(str::to_owned),
            url: url.map(|u| Url::parse(u).unwrap()),
            title: title.into(),
            ..Item::default()
        }
    }

    #[test]
    fn a_story_is_one_title_with_one_text() {
        let shares = |a: &Item, b: &Item| {
            let theirs = story_keys(b);
            story_keys(a).iter().any(|k| theirs.contains(k))
        };
        let title = "Sportello anagrafe chiuso per aggiornamento informatico";
        let with = |url: &str, text: &str| Item {
            summary: format!("<p>{text}</p>"),
            ..item(None, Some(url), title)
        };
        let ravenna = with(
            "https://www.comune.ravenna.ra.it/avvisi/20/sportello",
            "Si comunica che lunedì 10 marzo gli uffici saranno chiusi al pubblico.",
        );
        // The same release on the same site's press-release page: one story.
        let release = with(
            "https://comune.ravenna.ra.it/comunicati/sportello",
            "Si comunica che lunedì 10 marzo gli uffici saranno chiusi al pubblico.",
        );
        assert!(shares(&ravenna, &release));
        // The same title a week later, on the same site, with other facts: two stories.
        let next_week = with(
            "https://www.comune.ravenna.ra.it/avvisi/21/sportello",
            "Si comunica che lunedì 17 marzo dalle 9 gli uffici saranno chiusi.",
        );
        assert!(!shares(&ravenna, &next_week));
        // Without a text, the same title on the same site is taken as one story.
        let bare = |url| item(None, Some(url), title);
        assert!(shares(
            &bare("https://www.comune.ravenna.ra.it/a"),
            &bare("https://comune.ravenna.ra.it/b")
        ));
        assert!(!shares(
            &bare("https://www.comune.ravenna.ra.it/a"),
            &bare("https://www.comune.modena.mo.it/a")
        ));
        // Another comune's site, the same title and opening (a shared template): another
        // comune's notice.
        let copy = with(
            "https://www.comune.faenza.ra.it/sportello",
            "Si comunica che <strong>lunedì</strong> 10 marzo gli uffici saranno chiusi al pubblico.",
        );
        assert!(!shares(&ravenna, &copy));
        // Another comune with the same title and its own text: two stories.
        let modena = with(
            "https://www.comune.modena.mo.it/avvisi/18/sportello",
            "Con l'ordinanza pubblicata oggi si dispone che giovedì le scuole resteranno chiuse.",
        );
        assert!(!shares(&ravenna, &modena));
        // One link, another text: the page was replaced (another notice, or a correction
        // that its own source tells); the same text under another title: one story.
        let replaced = Item {
            title: "Anagrafe: chiusura straordinaria".into(),
            ..with(
                "https://www.comune.ravenna.ra.it/avvisi/20/sportello",
                "Lunedì 17 marzo chiusura straordinaria dello sportello.",
            )
        };
        assert!(!shares(&ravenna, &replaced));
        let retitled = Item {
            title: "Anagrafe: chiusura straordinaria".into(),
            ..ravenna.clone()
        };
        assert!(shares(&ravenna, &retitled));
        // A short title says too little, whatever the site.
        let short = |url| item(None, Some(url), "Interruzione idrica");
        assert!(!shares(
            &short("https://a.example/1"),
            &short("https://a.example/2")
        ));
    }

    #[test]
    fn primary_prefers_guid_then_url_then_content() {
        assert_eq!(
            Identity::of(&item(Some("abc"), Some("https://a.example/1"), "T")).primary,
            "guid:abc"
        );
        assert_eq!(
            Identity::of(&item(None, Some("https://a.example/1"), "T")).primary,
            "url:a.example/1"
        );
        let id = Identity::of(&item(None, None, "Solo titolo"));
        assert!(id.primary.starts_with("hash:"));
        assert_eq!(id.keys.len(), 2);
    }

    #[test]
    fn strict_items_are_known_by_their_ids_only() {
        let mut a = item(Some("cap:a"), Some("https://pc.example.it/"), "Allerta");
        a.strict_id = true;
        a.alt_ids = vec!["cap-doc:x".into()];
        let id = Identity::of(&a);
        assert_eq!(id.keys.len(), 2);
        assert!(id.keys.iter().all(|k| k.kind == KeyKind::Guid as u8));
    }

    #[test]
    fn stored_hashes_are_pinned() {
        // If this fails, stored keys from earlier versions no longer match: see the module docs.
        let id = Identity::of(&item(Some("abc"), Some("https://a.example/1"), "Avviso"));
        assert_eq!(
            hex::encode(id.keys[0].hash),
            "ba7816bf8f01cfea414140de5dae2223"
        );
        assert_eq!(
            id.message_id("comune"),
            Identity::of(&item(Some("abc"), None, "x")).message_id("comune")
        );
        assert_ne!(id.message_id("comune"), id.message_id("altro"));
    }
}
