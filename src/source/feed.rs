//! RSS 0.9x/1.0/2.0, Atom and JSON Feed, through feed-rs.
//!
//! feed-rs gets the feed's URL as base URI and an id generator that leaves ids of entries
//! without one empty: [`crate::ident`] then identifies them by link or content, which is
//! stable across polls (feed-rs's fallback would be a random UUID for some entries).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use url::Url;

use super::{guarded, xml_guard, ParseContext, ParseError};
use crate::dates::parse_date;
use crate::item::Item;
use crate::link::http_url;
use crate::text::html_to_text;

const RSS090_NS: &str = "http://my.netscape.com/rdf/simple/0.9/";
const RSS10_NS: &str = "http://purl.org/rss/1.0/";

/// Parses a feed document (already decoded to text).
pub fn parse(text: &str, ctx: &ParseContext) -> Result<Vec<Item>, ParseError> {
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    if looks_like_html(trimmed) {
        return Err(ParseError::NotAFeed {
            feed: discover_feed(trimmed, ctx.base.as_ref()).map(|u| u.to_string()),
        });
    }
    if !trimmed.starts_with('{') {
        xml_guard::check(trimmed)?;
    }
    // RSS 0.90 has the shape of RSS 1.0 under Netscape's namespace, which feed-rs does not
    // know (it finds no items): parse it as RSS 1.0.
    let rss090;
    // The namespace is declared on the root element, near the start.
    let head = trimmed.get(..trimmed.len().min(4096)).unwrap_or(trimmed);
    let trimmed = if head.contains(RSS090_NS) {
        rss090 = trimmed.replacen(RSS090_NS, RSS10_NS, 1);
        rss090.as_str()
    } else {
        trimmed
    };
    let contacts;
    let trimmed = if trimmed.starts_with('{') {
        trimmed
    } else {
        contacts = without_contacts(trimmed);
        &contacts
    };
    let tz = ctx.tz;
    let feed = guarded("feed", || {
        feed_rs::parser::Builder::new()
            .base_uri(ctx.base.as_ref().map(Url::as_str))
            .id_generator(|_, _, _| String::new())
            .timestamp_parser(move |s| parse_date(s, tz))
            .build()
            .parse(trimmed.as_bytes())
            .map_err(|e| ParseError::Malformed(e.to_string()))
    })?;
    let feed_link = best_link(&feed.links, ctx.base.as_ref());
    // An RSS item's date is its pubDate (or dc:date) alone, as before feed-rs 3, which also
    // reads an item's <updated>: the date is part of the stored title key.
    let rss = !matches!(
        feed.feed_type,
        feed_rs::model::FeedType::Atom | feed_rs::model::FeedType::JSON
    );
    let json = feed.feed_type == feed_rs::model::FeedType::JSON;
    let images = if json {
        json_images(trimmed)
    } else {
        Default::default()
    };
    Ok(feed
        .entries
        .into_iter()
        .map(|entry| {
            let image = images.get(entry.id.trim()).cloned();
            let mut item = to_item(entry, ctx.base.as_ref(), feed_link.as_ref(), rss);
            if item.image.is_none() {
                item.image = image.and_then(|i| http_url(&i, ctx.base.as_ref()));
            }
            item
        })
        .collect())
}

/// A JSON Feed's item images (`image`, else `banner_image`) by item id: feed-rs 3 reads
/// neither, so they are read here from the same text (already parsed once by feed-rs, so
/// well-formed and within the size cap).
fn json_images(text: &str) -> std::collections::HashMap<String, String> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
        return Default::default();
    };
    doc["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let id = match &item["id"] {
                serde_json::Value::String(s) => s.trim().to_owned(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return None,
            };
            let image = item["image"].as_str().or(item["banner_image"].as_str())?;
            Some((id, image.to_owned()))
        })
        .collect()
}

/// RSS contact elements, with their text.
static CONTACT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)<(author|managingEditor|webMaster)(\s[^>]*)?>.*?</(?:author|managingEditor|webMaster)\s*>")
        .expect("static regex")
});

/// Empties every RSS `<author>`, `<managingEditor>` and `<webMaster>`. feed-rs 3 cuts an
/// e-mail address out of such a text by byte offsets, one byte beyond it, and panics when
/// the character there is not ASCII ("Ufficio stampa «stampa@comune.it»", also with the
/// address written `stampa&#64;comune.it`): the whole feed would fail. Found by the `feed`
/// fuzz target; banditore does not use these fields.
fn without_contacts(text: &str) -> Cow<'_, str> {
    CONTACT.replace_all(text, "<${1}${2}></${1}>")
}

fn to_item(
    entry: feed_rs::model::Entry,
    base: Option<&Url>,
    feed_link: Option<&Url>,
    rss: bool,
) -> Item {
    let guid = Some(entry.id.trim().to_owned()).filter(|id| !id.is_empty());
    let own_url = best_link(&entry.links, base)
        // An Atom id or RSS guid is often the permalink.
        .or_else(|| guid.as_deref().and_then(|g| http_url(g, None)));
    // Without a link of its own the message links to the site; the item is not identified by it.
    let url_inherited = own_url.is_none() && feed_link.is_some();
    let url = own_url.or_else(|| feed_link.cloned());
    let title = entry.title.as_ref().map(plain_title).unwrap_or_default();
    // The picture inside the text is looked for only when a message is made
    // ([`Item::picture`]): most items of a poll are only recorded as seen.
    let image = media_image(&entry, base).or_else(|| enclosure_image(&entry.links, base));
    let mut content = entry.content.and_then(|c| c.body);
    let summary = match entry.summary.map(|s| s.content) {
        Some(summary) if !summary.trim().is_empty() => summary,
        _ => content.take().unwrap_or_default(),
    };
    let tags = entry
        .categories
        .iter()
        .map(|c| {
            c.label
                .clone()
                .unwrap_or_else(|| c.term.clone())
                .trim()
                .to_owned()
        })
        .filter(|t| !t.is_empty())
        .collect();
    Item {
        guid,
        url,
        url_inherited,
        title,
        summary,
        content,
        image,
        published: entry.published.or(entry.updated.filter(|_| !rss)),
        tags,
        ..Item::default()
    }
}

/// A title as text: markup is read as HTML only where the feed says the title is HTML
/// (Atom `type="html"`); a plain-text title showing `<script>` is text and stays so (the
/// admin UI escapes it). Entities escaped twice, common in Italian feeds, are decoded.
fn plain_title(t: &feed_rs::model::Text) -> String {
    let essence = t.content_type.to_string();
    if essence.contains("html") {
        html_to_text(&t.content)
    } else {
        crate::text::collapse_whitespace(&html_escape::decode_html_entities(&t.content))
    }
}

/// The entry's page: an `alternate` (or unqualified) link that is not an enclosure or a
/// CAP/XML document, resolved to an absolute http(s) URL. Comment links (RSS `<comments>`,
/// `wfw:commentRss`, which feed-rs 3 lists with a target) are never the page.
fn best_link(links: &[feed_rs::model::Link], base: Option<&Url>) -> Option<Url> {
    let links = || links.iter().filter(|l| l.target.is_none());
    let is_page = |l: &&feed_rs::model::Link| {
        matches!(l.rel.as_deref(), None | Some("alternate"))
            && !l
                .media_type
                .as_deref()
                .is_some_and(|t| t.contains("xml") || t.starts_with("image/"))
    };
    links()
        .filter(is_page)
        .chain(links().filter(|l| l.rel.as_deref() != Some("enclosure")))
        .find_map(|l| http_url(&l.href, base))
}

fn enclosure_image(links: &[feed_rs::model::Link], base: Option<&Url>) -> Option<Url> {
    links
        .iter()
        .filter(|l| {
            l.media_type
                .as_deref()
                .is_some_and(|t| t.starts_with("image/"))
        })
        .find_map(|l| http_url(&l.href, base))
}

/// A media image of the entry (Media RSS); a relative thumbnail resolved against the feed's
/// address.
fn media_image(entry: &feed_rs::model::Entry, base: Option<&Url>) -> Option<Url> {
    entry.media.iter().find_map(|m| {
        m.content
            .iter()
            .filter(|c| {
                c.content_type
                    .as_ref()
                    .is_some_and(|t| t.ty().as_str() == "image")
            })
            .find_map(|c| c.url.as_ref().and_then(|u| http_url(u.as_str(), None)))
            .or_else(|| {
                m.thumbnails
                    .iter()
                    .find_map(|t| http_url(&t.image.uri, base))
            })
    })
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(512)
        .collect::<String>()
        .to_ascii_lowercase();
    let head = head.trim_start();
    head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || (head.starts_with("<!--") && head.contains("<html"))
        || (head.starts_with("<?xml")
            && head.contains("<html")
            && !head.contains("<rss")
            && !head.contains("<feed"))
}

/// Feed autodiscovery: `<link rel="alternate" type="application/rss+xml" href="…">`.
pub fn discover_feed(html: &str, base: Option<&Url>) -> Option<Url> {
    if !crate::html_depth::within_limit(html) {
        return None;
    }
    let doc = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse(
        r#"link[rel~="alternate"][type="application/rss+xml"], link[rel~="alternate"][type="application/atom+xml"], link[rel~="alternate"][type="application/feed+json"]"#,
    )
    .ok()?;
    doc.select(&selector)
        .find_map(|el| el.value().attr("href").and_then(|h| http_url(h, base)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(base: &str) -> ParseContext {
        ParseContext::new(Some(Url::parse(base).unwrap()), chrono_tz::Europe::Rome)
    }

    const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Comune</title><link>https://comune.example.it/</link>
<item><title>Avviso &amp; lavori</title><link>/notizie/1</link>
<description>&lt;p&gt;Testo &lt;img src="/img/a.jpg"&gt;&lt;/p&gt;</description>
<category>WhatsApp</category><pubDate>mar, 25 nov 2025 10:00:00 +0100</pubDate></item>
<item><title>Senza guid</title><link>https://comune.example.it/notizie/2</link></item>
</channel></rss>"#;

    #[test]
    fn rss_items_are_normalised() {
        let items = parse(RSS, &ctx("https://comune.example.it/feed/")).unwrap();
        assert_eq!(items.len(), 2);
        let a = &items[0];
        assert_eq!(a.title, "Avviso & lavori");
        assert_eq!(
            a.url.as_ref().unwrap().as_str(),
            "https://comune.example.it/notizie/1"
        );
        assert_eq!(
            a.image, None,
            "the picture is looked for when a message is made"
        );
        assert_eq!(
            a.picture().unwrap().as_str(),
            "https://comune.example.it/img/a.jpg"
        );
        assert_eq!(a.tags, vec!["WhatsApp"]);
        assert_eq!(
            a.published.unwrap().to_rfc3339(),
            "2025-11-25T09:00:00+00:00"
        );
        assert_eq!(a.guid, None);
    }

    #[test]
    fn ids_are_stable_across_parses() {
        let c = ctx("https://comune.example.it/feed/");
        let one: Vec<_> = parse(RSS, &c)
            .unwrap()
            .iter()
            .map(crate::ident::Identity::of)
            .collect();
        let two: Vec<_> = parse(RSS, &c)
            .unwrap()
            .iter()
            .map(crate::ident::Identity::of)
            .collect();
        assert_eq!(one, two);
    }

    #[test]
    fn html_is_not_a_feed_and_says_where_the_feed_is() {
        let html = r#"<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" href="/feed/"></head><body>x</body></html>"#;
        let err = parse(html, &ctx("https://comune.example.it/")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "this is an HTML page, not a feed (its feed seems to be https://comune.example.it/feed/)"
        );
    }

    #[test]
    fn empty_and_malformed() {
        assert_eq!(
            parse("  \n", &ctx("https://a.example/")),
            Err(ParseError::Empty)
        );
        assert!(matches!(
            parse("<rss><channel><item>", &ctx("https://a.example/")),
            Err(ParseError::Malformed(_)) | Ok(_)
        ));
        assert!(matches!(
            parse("not xml at all", &ctx("https://a.example/")),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn comment_links_and_updated_do_not_change_an_rss_item() {
        // feed-rs 3 lists <comments> and wfw:commentRss among the links and reads an item's
        // <updated>; items keep the link and the date (part of their keys) they had before.
        let rss = r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:wfw="http://wellformedweb.org/CommentAPI/">
<channel><title>Comune</title><link>https://comune.example.it/</link>
<item><title>Uno</title><comments>https://comune.example.it/n/1#comments</comments><link>https://comune.example.it/n/1</link></item>
<item><title>Due</title><comments>https://comune.example.it/n/2#comments</comments><wfw:commentRss>https://comune.example.it/n/2/feed/</wfw:commentRss></item>
<item><title>Tre</title><link>https://comune.example.it/n/3</link><atom:updated>2025-11-20T10:00:00Z</atom:updated></item>
</channel></rss>"#;
        let items = parse(rss, &ctx("https://comune.example.it/feed/")).unwrap();
        assert_eq!(
            items[0].url.as_ref().unwrap().as_str(),
            "https://comune.example.it/n/1"
        );
        assert!(items[1].url_inherited);
        assert_eq!(
            items[1].url.as_ref().unwrap().as_str(),
            "https://comune.example.it/"
        );
        assert_eq!(items[2].published, None);
    }

    #[test]
    fn json_feed() {
        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"x","items":[{"id":"1","url":"https://a.example/1","title":"Uno","content_html":"<p>ciao</p>"}]}"#;
        let items = parse(json, &ctx("https://a.example/feed.json")).unwrap();
        assert_eq!(items[0].guid.as_deref(), Some("1"));
        assert_eq!(items[0].title, "Uno");
    }

    #[test]
    fn a_json_feed_image_at_a_relative_address_is_resolved() {
        for key in ["image", "banner_image"] {
            let json = format!(
                r#"{{"version":"https://jsonfeed.org/version/1.1","title":"x","items":[{{"id":"1","url":"https://a.example/1","title":"Uno","content_html":"<p>ciao</p>","{key}":"/img/cantiere.jpg"}}]}}"#
            );
            let items = parse(&json, &ctx("https://a.example/notizie/feed.json")).unwrap();
            assert_eq!(
                items[0].image.as_ref().map(Url::as_str),
                Some("https://a.example/img/cantiere.jpg"),
                "{key}"
            );
        }
    }
}

#[cfg(test)]
mod contacts {
    use super::*;

    #[test]
    fn an_address_after_a_guillemet_does_not_fail_the_feed() {
        let rss = "<rss version=\"2.0\"><channel><title>C</title><link>https://comune.example.it/</link>\
            <managingEditor>Ufficio stampa «stampa@comune.example.it»</managingEditor>\
            <item><title>Avviso</title><link>https://comune.example.it/a</link>\
            <author>Redazione «redazione@comune.example.it» – Comune</author></item></channel></rss>";
        let ctx = ParseContext::new(None, chrono_tz::Europe::Rome);
        let items = parse(rss, &ctx).expect("parsed");
        assert_eq!(items.len(), 1);
        assert_eq!(
            without_contacts("<author>«a&#64;b.it»</author><title>x@y.it</title>"),
            "<author></author><title>x@y.it</title>"
        );
    }
}
