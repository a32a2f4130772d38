//! The archive as feeds others can follow: Atom (RFC 4287, written by `atom_syndication`) and
//! JSON Feed 1.1 (a small JSON shape, written with serde: no maintained crate does more than
//! these few fields). Each entry's address is its page in the archive; the official page is
//! its related link (`external_url`).

use atom_syndication::{Category, Content, Entry, Feed, Link, Person, Text};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::PublicSettings;
use crate::store::ArchiveEntry;

/// How many messages a feed carries.
pub const ENTRIES: usize = 50;

/// Text XML can carry: no control characters but tab and line breaks, no noncharacters (one
/// would make the whole feed unreadable). Sources' text is cleaned before it is stored; this
/// is for what came in before that.
fn xml(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            (!c.is_control() || matches!(c, '\t' | '\n' | '\r')) && !crate::text::unwanted(c)
        })
        .collect()
}

/// A message's text for a feed: without WhatsApp's markers and without its first line when
/// that is the title (the feed has the title apart).
fn body_of(e: &ArchiveEntry) -> String {
    let plain = crate::format::styles::plain(&e.message.text);
    let body = match plain.split_once('\n') {
        Some((first, rest)) if first.trim() == e.message.title.trim() => rest.trim_start(),
        _ => plain.as_str(),
    };
    xml(body)
}

fn link(href: String, rel: &str, mime: &str) -> Link {
    let mut l = Link::default();
    l.set_href(href);
    l.set_rel(rel);
    l.set_mime_type(Some(mime.to_owned()));
    l
}

/// The Atom feed; `base` is the page's address ending in `/`.
pub fn atom(public: &PublicSettings, base: &str, entries: &[ArchiveEntry]) -> String {
    let updated = entries
        .first()
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |e| e.sent_at);
    let mut feed = Feed::default();
    feed.set_title(Text::plain(xml(&format!("Avvisi · {}", public.name))));
    feed.set_id(format!("{base}feed.xml"));
    feed.set_updated(updated.fixed_offset());
    feed.set_lang(Some("it".to_owned()));
    let mut author = Person::default();
    author.set_name(xml(&public.name));
    author.set_uri(public.site_url.as_ref().map(ToString::to_string));
    feed.set_authors(vec![author]);
    feed.set_links(vec![
        link(format!("{base}feed.xml"), "self", "application/atom+xml"),
        link(format!("{base}archivio"), "alternate", "text/html"),
    ]);
    feed.set_entries(
        entries
            .iter()
            .map(|e| {
                let page = format!("{base}archivio/{}", e.seq);
                let mut entry = Entry::default();
                entry.set_id(page.clone());
                entry.set_title(Text::plain(xml(&e.message.title)));
                entry.set_updated(e.sent_at.fixed_offset());
                entry.set_published(Some(e.sent_at.fixed_offset()));
                let mut links = vec![link(page, "alternate", "text/html")];
                if let Some(official) = super::pages::web(&e.message.url) {
                    links.push(link(official.to_owned(), "related", "text/html"));
                }
                entry.set_links(links);
                let mut content = Content::default();
                content.set_content_type(Some("text".to_owned()));
                content.set_value(Some(body_of(e)));
                entry.set_content(Some(content));
                entry.set_categories(
                    e.categories()
                        .into_iter()
                        .map(|c| {
                            let mut cat = Category::default();
                            cat.set_term(xml(&c));
                            cat
                        })
                        .collect::<Vec<_>>(),
                );
                entry
            })
            .collect::<Vec<_>>(),
    );
    feed.to_string()
}

/// The JSON Feed 1.1.
pub fn json(public: &PublicSettings, base: &str, entries: &[ArchiveEntry]) -> String {
    let items: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let mut item = json!({
                "id": format!("{base}archivio/{}", e.seq),
                "url": format!("{base}archivio/{}", e.seq),
                "title": e.message.title,
                "content_text": body_of(e),
                "date_published": e.sent_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "tags": e.categories(),
            });
            if let Some(official) = super::pages::web(&e.message.url) {
                item["external_url"] = official.into();
            }
            item
        })
        .collect();
    let mut feed = json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": format!("Avvisi · {}", public.name),
        "home_page_url": format!("{base}archivio"),
        "feed_url": format!("{base}feed.json"),
        "language": "it",
        "authors": [{"name": public.name}],
        "items": items,
    });
    if let Some(site) = &public.site_url {
        feed["authors"][0]["url"] = site.as_str().into();
    }
    feed.to_string()
}
