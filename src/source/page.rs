//! Press-release pages without a feed, read with CSS selectors (scraper).
//!
//! A *listing* page gives items (link, title, date, summary, image); each new article is then
//! fetched once by the pipeline and its metadata read by [`parse_article`]: canonical URL,
//! `og:title`, `og:description`, `og:image`, publication date, body text.
//!
//! Presets hold the selectors of known templates. Each rule is a list of alternatives tried in
//! order, because templates vary between versions.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use scraper::{ElementRef, Html, Selector};
use url::Url;

use super::{ParseContext, ParseError};
use crate::config::{Preset, Selectors};
use crate::dates::parse_date;
use crate::item::Item;
use crate::link::http_url;
use crate::text::{collapse_whitespace, html_to_text};

mod prose;

/// The selectors used on a listing page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRules {
    pub preset: Preset,
    item: Vec<String>,
    link: Vec<String>,
    title: Vec<String>,
    date: Vec<String>,
    summary: Vec<String>,
    image: Vec<String>,
    tags: Vec<String>,
}

fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl PageRules {
    /// A preset's rules, with the configured selectors taking precedence.
    pub fn new(preset: Preset, overrides: Option<&Selectors>) -> PageRules {
        let mut rules = match preset {
            // Design Comuni Italia (design-comuni-pagine-statiche, the WordPress and Drupal
            // themes): news cards `.card` with `h3.card-title` inside the link
            // `a[data-element="news-category-link"]`, date in `span.data` ("28 FEB 2023").
            Preset::DesignComuni => PageRules {
                preset,
                item: list(&[".card"]),
                link: list(&[
                    "a[data-element='news-category-link']",
                    ".card-title a",
                    "a.read-more",
                ]),
                title: list(&[".card-title", "h3", "h2"]),
                date: list(&["time[datetime]", ".data", ".card-date", ".date"]),
                summary: list(&[".card-text", "p"]),
                image: list(&["img"]),
                tags: list(&[".category", ".chip-label"]),
            },
            Preset::Wordpress | Preset::Auto => PageRules {
                preset,
                item: list(&["article", ".post", ".type-post"]),
                link: list(&[
                    ".entry-title a",
                    "a[rel='bookmark']",
                    "h2 a",
                    "h3 a",
                    "a.more-link",
                ]),
                title: list(&[".entry-title", "h2", "h3"]),
                date: list(&["time[datetime]", ".entry-date", ".posted-on", ".date"]),
                summary: list(&[".entry-summary", ".entry-content p", ".excerpt", "p"]),
                image: list(&["img"]),
                tags: list(&["a[rel~='category']", ".cat-links a"]),
            },
        };
        if let Some(o) = overrides {
            let set = |slot: &mut Vec<String>, v: &Option<String>| {
                if let Some(v) = v {
                    *slot = vec![v.clone()];
                }
            };
            set(&mut rules.item, &o.item);
            set(&mut rules.link, &o.link);
            set(&mut rules.title, &o.title);
            set(&mut rules.date, &o.date);
            set(&mut rules.summary, &o.summary);
            set(&mut rules.image, &o.image);
        }
        rules
    }

    /// The item selector, for messages about it.
    pub fn item_selector(&self) -> String {
        if self.preset == Preset::Auto && self.item == PageRules::new(Preset::Wordpress, None).item
        {
            return "auto (Design Comuni cards, WordPress articles, headline links)".into();
        }
        self.item.join(", ")
    }
}

impl Default for PageRules {
    fn default() -> Self {
        PageRules::new(Preset::Auto, None)
    }
}

fn compile(sels: &[String]) -> Vec<Selector> {
    sels.iter()
        .filter_map(|s| Selector::parse(s).ok())
        .collect()
}

fn text_of(el: ElementRef) -> String {
    collapse_whitespace(&el.text().collect::<Vec<_>>().join(" "))
}

/// The first element matching one of `sels` (tried in order) under `scope`.
fn first<'a>(scope: ElementRef<'a>, sels: &[Selector]) -> Option<ElementRef<'a>> {
    sels.iter().find_map(|s| scope.select(s).next())
}

/// The page's base for relative links: the document URL, then `<base href>`.
fn page_base(doc: &Html, url: Option<&Url>) -> Option<Url> {
    let base_sel = Selector::parse("base[href]").ok()?;
    let base_href = doc
        .select(&base_sel)
        .next()
        .and_then(|b| b.value().attr("href"));
    match (url, base_href) {
        (Some(u), Some(h)) => u.join(h).ok().or_else(|| Some(u.clone())),
        (None, Some(h)) => Url::parse(h).ok(),
        (Some(u), None) => Some(u.clone()),
        (None, None) => None,
    }
}

/// An image URL from an element: `src`, then lazy-loading attributes; only http(s).
fn image_of(el: ElementRef, base: Option<&Url>) -> Option<Url> {
    ["src", "data-src", "data-lazy-src"]
        .iter()
        .filter_map(|a| el.value().attr(a))
        .find_map(|v| http_url(v, base))
}

fn date_of(el: ElementRef, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    el.value()
        .attr("datetime")
        .and_then(|d| parse_date(d, tz))
        .or_else(|| parse_date(&text_of(el), tz))
}

/// Items of a listing page, per the rules. `Err(NothingMatched)` when the item selector finds
/// nothing usable: a template change must not look like "no news".
pub fn parse_listing(html: &str, ctx: &ParseContext) -> Result<Vec<Item>, ParseError> {
    if !crate::html_depth::within_limit(html) {
        return Err(ParseError::Hostile(format!(
            "the page nests its elements more than {} deep, which no web page needs",
            crate::html_depth::MAX_DEPTH
        )));
    }
    let doc = Html::parse_document(html);
    let base = page_base(&doc, ctx.base.as_ref());
    let rules = &ctx.page;
    if base.is_none() {
        return Err(ParseError::Malformed(
            "a page's links are relative to its address: give the page's URL (--base-url for a local file)".into(),
        ));
    }
    let items = listing_with_rules(&doc, rules, base.as_ref(), ctx);
    if !items.is_empty() {
        return Ok(items);
    }
    if rules.preset == Preset::Auto {
        // No template named: try the known ones, then links that read like headlines.
        let design_comuni = PageRules::new(Preset::DesignComuni, None);
        let found = listing_with_rules(&doc, &design_comuni, base.as_ref(), ctx);
        if !found.is_empty() {
            return Ok(found);
        }
        let found = auto_links(&doc, base.as_ref());
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Err(ParseError::NothingMatched {
        selector: rules.item_selector(),
    })
}

fn listing_with_rules(
    doc: &Html,
    rules: &PageRules,
    base: Option<&Url>,
    ctx: &ParseContext,
) -> Vec<Item> {
    let (link, title, date, summary, image, tags) = (
        compile(&rules.link),
        compile(&rules.title),
        compile(&rules.date),
        compile(&rules.summary),
        compile(&rules.image),
        compile(&rules.tags),
    );
    let page = base.map(crate::ident::canonical_url);
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for item_sel in compile(&rules.item) {
        for el in doc.select(&item_sel) {
            let title_el = first(el, &title);
            let url = link
                .iter()
                .flat_map(|s| el.select(s))
                .chain(title_el.into_iter().flat_map(|t| {
                    t.ancestors()
                        .filter_map(ElementRef::wrap)
                        .filter(|a| a.value().name() == "a")
                }))
                .chain(title_el.into_iter().flat_map(|t| t.select(&A_HREF)))
                .filter_map(|a| a.value().attr("href"))
                .filter_map(|h| http_url(h, base))
                .find(|u| page.as_deref() != Some(crate::ident::canonical_url(u).as_str()));
            let Some(url) = url else { continue };
            let title_text = title_el.map(text_of).unwrap_or_default();
            if title_text.is_empty() || !seen.insert(url.clone()) {
                continue;
            }
            items.push(Item {
                url: Some(url),
                title: title_text,
                summary: first(el, &summary)
                    .map(|s| s.inner_html())
                    .unwrap_or_default(),
                image: image
                    .iter()
                    .flat_map(|s| el.select(s))
                    .find_map(|i| image_of(i, base)),
                published: date
                    .iter()
                    .flat_map(|s| el.select(s))
                    .find_map(|d| date_of(d, ctx.tz)),
                tags: tags
                    .iter()
                    .flat_map(|s| el.select(s))
                    .map(text_of)
                    .filter(|t| !t.is_empty())
                    .collect(),
                ..Item::default()
            });
        }
        if !items.is_empty() {
            break;
        }
    }
    items
}

static A_HREF: std::sync::LazyLock<Selector> =
    std::sync::LazyLock::new(|| Selector::parse("a[href]").expect("static selector"));

/// No template known: links in the page's main content whose text reads like a headline
/// (at least four words), on the same site, outside navigation, header, footer and asides.
fn auto_links(doc: &Html, base: Option<&Url>) -> Vec<Item> {
    let host = base.and_then(|b| b.host_str()).map(str::to_owned);
    let page = base.map(crate::ident::canonical_url);
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for a in doc.select(&A_HREF) {
        let in_chrome = a.ancestors().filter_map(ElementRef::wrap).any(|p| {
            matches!(
                p.value().name(),
                "nav" | "header" | "footer" | "aside" | "form"
            ) || p.value().attr("role").is_some_and(|r| r == "navigation")
        });
        if in_chrome {
            continue;
        }
        let text = text_of(a);
        if text.split_whitespace().count() < 4 || text.chars().count() > 200 {
            continue;
        }
        let Some(url) = a.value().attr("href").and_then(|h| http_url(h, base)) else {
            continue;
        };
        // Articles have their own address; "#" links are skip-links and placeholders.
        if url.fragment().is_some() || (host.is_some() && url.host_str() != host.as_deref()) {
            continue;
        }
        let canon = crate::ident::canonical_url(&url);
        if Some(&canon) == page.as_ref() || !seen.insert(canon) {
            continue;
        }
        items.push(Item {
            url: Some(url),
            title: text,
            ..Item::default()
        });
    }
    items
}

/// Signals that a page is one article rather than a listing.
pub fn looks_like_article(html: &str) -> bool {
    if !crate::html_depth::within_limit(html) {
        return false;
    }
    let doc = Html::parse_document(html);
    let any = |css: &str| Selector::parse(css).is_ok_and(|s| doc.select(&s).next().is_some());
    any("meta[property='og:type'][content='article']")
        || any("meta[property='article:published_time']")
        || any("article h1")
        || any("[itemtype*='Article']")
        || doc.select(&SMALL).any(|s| {
            text_of(s)
                .trim_end_matches(':')
                .eq_ignore_ascii_case("data")
        })
}

/// Where templates put the "Data:" label of an article (Design Comuni: `<small>`, older
/// comune templates: `<span>`).
static SMALL: std::sync::LazyLock<Selector> =
    std::sync::LazyLock::new(|| Selector::parse("small, span").expect("static selector"));

fn meta(doc: &Html, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        let css = format!("meta[property='{name}'], meta[name='{name}']");
        let sel = Selector::parse(&css).ok()?;
        doc.select(&sel)
            .filter_map(|m| m.value().attr("content"))
            .map(|c| collapse_whitespace(&html_escape::decode_html_entities(c)))
            .find(|c| !c.is_empty())
    })
}

/// The metadata of one article page, as an item. `url` is where the page was fetched from.
pub fn parse_article(html: &str, ctx: &ParseContext) -> Item {
    if !crate::html_depth::within_limit(html) {
        // Too deep to parse in reasonable time: the listing's text stands.
        return Item::default();
    }
    let doc = Html::parse_document(html);
    if not_found(&doc) {
        // An error page served with 200: nothing of it is the article's.
        return Item::default();
    }
    let base = page_base(&doc, ctx.base.as_ref());
    let sel = |css: &str| Selector::parse(css).ok();
    let canonical = sel("link[rel='canonical'][href]")
        .and_then(|s| {
            doc.select(&s).find_map(|l| {
                l.value()
                    .attr("href")
                    .and_then(|h| http_url(h, base.as_ref()))
            })
        })
        .or_else(|| meta(&doc, &["og:url"]).and_then(|u| http_url(&u, base.as_ref())))
        .filter(|c| {
            ctx.base
                .as_ref()
                .is_none_or(|b| b.host_str() == c.host_str())
        })
        .or_else(|| ctx.base.clone());
    let title = meta(&doc, &["og:title", "twitter:title"])
        .or_else(|| heading(&doc))
        .or_else(|| document_title(&doc))
        .unwrap_or_default();
    let summary = meta(
        &doc,
        &["og:description", "description", "twitter:description"],
    )
    .or_else(|| lead_paragraph(&doc))
    .or_else(|| Some(prose::prose(&doc)).filter(|p| !p.is_empty()))
    .unwrap_or_else(|| body_text(&doc));
    let image =
        sel("meta[property='og:image'], meta[name='og:image'], meta[property='og:image:url']")
            .and_then(|s| {
                doc.select(&s)
                    .filter_map(|m| m.value().attr("content"))
                    .find_map(|c| http_url(c, base.as_ref()))
            });
    let published = meta(
        &doc,
        &[
            "article:published_time",
            "date",
            "dc.date",
            "DC.date.issued",
        ],
    )
    .and_then(|d| parse_date(&d, ctx.tz))
    .or_else(|| sel("time[datetime]").and_then(|s| doc.select(&s).find_map(|t| date_of(t, ctx.tz))))
    .or_else(|| labelled_date(&doc, ctx.tz));
    Item {
        url: canonical,
        title,
        summary: html_escape::encode_text(&summary).into_owned(),
        image,
        published,
        tags: meta(&doc, &["article:section"]).into_iter().collect(),
        ..Item::default()
    }
}

/// A "Pagina non trovata" page (a removed article, a CMS that answers 200 to anything): its
/// heading or its `<title>` says so.
fn not_found(doc: &Html) -> bool {
    // Each part of "404 - Pagina non trovata | Comune di X" on its own; a short one that says
    // a page or content is not found, does not exist or is not available ("Spiacenti, pagina
    // non trovata", "Ops! La pagina cercata non è disponibile"). A long heading is an
    // article's, whatever it quotes.
    let says = |text: String| {
        crate::text::fold(&text)
            .split(['|', '-', '–', '—', ':'])
            .map(|part| collapse_whitespace(&part.replace(['.', '!', ',', '?', '(', ')'], " ")))
            .any(|part| {
                let has = |w: &str| part.contains(w);
                part == "404"
                    || has("errore 404")
                    || has("not found")
                    || (part.split(' ').count() <= 8
                        && (has("pagina") || has("contenuto") || has("page"))
                        && has("non ")
                        && (has("trovat") || has("esist") || has("disponibil")))
            })
    };
    heading(doc).is_some_and(says)
        || Selector::parse("title")
            .ok()
            .and_then(|t| doc.select(&t).next().map(text_of))
            .is_some_and(says)
}

/// The article's `<h1>`: in `main` or `article` first, never the site name in the header or
/// a modal's title.
fn heading(doc: &Html) -> Option<String> {
    let h1 = Selector::parse("main h1, article h1, h1").ok()?;
    doc.select(&h1)
        .filter(|h| {
            !h.ancestors().filter_map(ElementRef::wrap).any(|p| {
                matches!(p.value().name(), "header" | "nav" | "footer")
                    || p.value()
                        .attr("class")
                        .is_some_and(|c| c.contains("modal") || c.contains("header"))
            })
        })
        .map(text_of)
        .find(|t| !t.is_empty())
}

/// `<title>` without the site name: "Titolo – Comune di X" and "comune.x.it - Titolo" both
/// give "Titolo" (the longest part).
fn document_title(doc: &Html) -> Option<String> {
    let sel = Selector::parse("title").ok()?;
    let title = doc.select(&sel).next().map(text_of)?;
    let mut parts = vec![title.as_str()];
    for sep in [" – ", " | ", " - ", " — "] {
        parts = parts.iter().flat_map(|p| p.split(sep)).collect();
    }
    parts
        .into_iter()
        .map(str::trim)
        .max_by_key(|p| p.chars().count())
        .map(str::to_owned)
        .filter(|t| !t.is_empty())
}

/// The paragraph right after the heading (the Design Comuni "lead").
fn lead_paragraph(doc: &Html) -> Option<String> {
    let sel = Selector::parse("h1 ~ p").ok()?;
    doc.select(&sel)
        .map(text_of)
        .find(|t| t.split_whitespace().count() >= 5)
}

/// "Data: 31 gennaio 2023" (Design Comuni), or an Italian date in the body.
fn labelled_date(doc: &Html, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let label = doc.select(&SMALL).find(|s| {
        text_of(*s)
            .trim_end_matches(':')
            .eq_ignore_ascii_case("data")
    })?;
    let next = label.next_siblings().filter_map(ElementRef::wrap).next()?;
    parse_date(&text_of(next), tz)
}

/// The text of the article body, for a summary when the page has no description.
fn body_text(doc: &Html) -> String {
    let candidates = [
        "[itemprop='articleBody']",
        ".entry-content",
        ".article-body",
        "article",
        "main",
        "body",
    ];
    candidates
        .iter()
        .filter_map(|c| Selector::parse(c).ok())
        .find_map(|s| doc.select(&s).next())
        .map(|el| {
            let cleaned = strip_chrome(&el.inner_html());
            html_to_text(&cleaned)
        })
        .unwrap_or_default()
}

/// Removes navigation, scripts, forms and the like before the body is turned into text.
fn strip_chrome(html: &str) -> String {
    static CHROME: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?is)<(nav|header|footer|aside|form|script|style|noscript|svg|button)\b.*?</(nav|header|footer|aside|form|script|style|noscript|svg|button)>")
            .expect("static regex")
    });
    CHROME.replace_all(html, " ").into_owned()
}

/// An item from the listing, completed with its article's metadata. The article's own
/// values win when present (they are what the editor wrote for sharing).
pub fn merge(listing: Item, article: Item) -> Item {
    let nonempty = |a: String, b: String| if a.trim().is_empty() { b } else { a };
    Item {
        url: article.url.or(listing.url),
        title: nonempty(article.title, listing.title),
        summary: nonempty(article.summary, listing.summary),
        image: article.image.or(listing.image),
        published: article.published.or(listing.published),
        tags: if listing.tags.is_empty() {
            article.tags
        } else {
            listing.tags
        },
        ..listing
    }
}

/// A page for `preview --kind page`: a listing's items, or one item for an article page.
pub fn parse(html: &str, ctx: &ParseContext) -> Result<Vec<Item>, ParseError> {
    if html.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let article =
        || Some(parse_article(html, ctx)).filter(|i| i.url.is_some() && !i.title.is_empty());
    if looks_like_article(html) {
        if let Some(item) = article() {
            return Ok(vec![item]);
        }
    }
    match parse_listing(html, ctx) {
        // Not a listing: a page with a heading of its own (an event, a notice), or with a
        // title and paragraphs of text (an old table-layout notice), is one item.
        Err(ParseError::NothingMatched { selector }) => {
            let doc = Html::parse_document(html);
            let titled = heading(&doc).is_some()
                || meta(&doc, &["og:title", "twitter:title"]).is_some()
                || (document_title(&doc).is_some()
                    && html.to_ascii_lowercase().contains("<body")
                    && prose::headline_links(&doc) < 3
                    && !prose::prose(&doc).is_empty());
            titled
                .then(article)
                .flatten()
                .map(|i| vec![i])
                .ok_or(ParseError::NothingMatched { selector })
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
