//! A readability-style reading of a page no template describes (an old table-layout notice,
//! a page without a heading): its paragraphs are the blocks of a dozen words or more that
//! are mostly not links, in order; navigation, labels, link lists and the page's chrome fall
//! out. Hand-written rather than a readability port: those score whole subtrees to pick one
//! container, and what a message needs is only the first paragraphs of text.

use std::sync::LazyLock;

use scraper::{ElementRef, Html, Selector};

use super::text_of;
use crate::text::html_to_text;

/// Elements that hold a block of text.
const BLOCKS: &[&str] = &[
    "p",
    "td",
    "th",
    "div",
    "li",
    "blockquote",
    "article",
    "section",
    "main",
    "dd",
];
static BLOCK: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse(&BLOCKS.join(", ")).expect("static selector"));

/// A paragraph has at least this many words …
const WORDS: usize = 12;
/// … and at most this share of them in links (in tenths).
const LINKED_TENTHS: usize = 3;

/// An element that holds blocks: a block containing one is not a paragraph itself.
fn is_block(name: &str) -> bool {
    BLOCKS.contains(&name) || matches!(name, "table" | "ul" | "ol")
}

/// Inside the page's chrome: never the article's text.
fn in_chrome(el: ElementRef) -> bool {
    el.ancestors().filter_map(ElementRef::wrap).any(|p| {
        matches!(
            p.value().name(),
            "nav" | "header" | "footer" | "aside" | "form" | "script" | "style" | "noscript"
        )
    })
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The words of `el` inside links.
fn linked_words(el: ElementRef) -> usize {
    static A: LazyLock<Selector> = LazyLock::new(|| Selector::parse("a").expect("static selector"));
    el.select(&A).map(|a| words(&text_of(a))).sum()
}

/// Links that read like a headline (four words or more) outside the page's chrome: a page
/// with several is a listing of other pages, not one text.
pub fn headline_links(doc: &Html) -> usize {
    static A: LazyLock<Selector> = LazyLock::new(|| Selector::parse("a").expect("static selector"));
    doc.select(&A)
        .filter(|a| !in_chrome(*a) && words(&text_of(*a)) >= 4)
        .count()
}

/// The page's paragraphs as one text; empty when it has none.
pub fn prose(doc: &Html) -> String {
    doc.select(&BLOCK)
        .filter(|b| {
            !b.descendants()
                .skip(1)
                .filter_map(ElementRef::wrap)
                .any(|d| is_block(d.value().name()))
        })
        .filter(|b| !in_chrome(*b))
        .map(|b| (html_to_text(&b.inner_html()), linked_words(b)))
        .filter(|(text, linked)| {
            let n = words(text);
            n >= WORDS && linked * 10 <= n * LINKED_TENTHS
        })
        .map(|(text, _)| text)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paragraphs_of_an_old_table_layout_page() {
        let html = r#"<html><body><table><tr><td><a href="/">Home</a> | <a href="/uffici">Uffici</a> | <a href="/albo">Albo pretorio</a> | <a href="/contatti">Contatti e orari degli uffici comunali</a></td></tr>
<tr><td class="titolo"><b>Chiusura uffici comunali</b></td></tr>
<tr><td><font size="2">Si avvisa la cittadinanza che gli uffici comunali resteranno chiusi lunedì 8 dicembre per la festività dell'Immacolata.</font></td></tr>
<tr><td>Per le urgenze di stato civile è attivo il numero di reperibilità, <a href="tel:3331234567">333 1234567</a>, tutto il giorno.</td></tr>
<tr><td>Pubblicato il 1/12/2026</td></tr></table>
<footer><p>Comune di Borgo Esempio, piazza del Municipio 1, partita IVA 00000000000, tutti i diritti riservati</p></footer></body></html>"#;
        let text = prose(&Html::parse_document(html));
        assert!(text.starts_with("Si avvisa la cittadinanza"), "{text}");
        assert!(text.contains("333 1234567, tutto il giorno."), "{text}");
        assert!(!text.contains("Home"), "{text}");
        assert!(!text.contains("Chiusura uffici"), "{text}");
        assert!(!text.contains("partita IVA"), "{text}");
    }

    #[test]
    fn a_listing_is_not_one_text() {
        let teaser = |n| {
            format!(
                "<div class='card'><h3><a href='#'>Notizia numero {n} del comune di Borgo</a></h3>\
                 <p>Il testo della notizia numero {n}, abbastanza lungo da sembrare un paragrafo vero.</p></div>"
            )
        };
        let html = format!(
            "<html><body>{}</body></html>",
            (1..=4).map(teaser).collect::<String>()
        );
        let doc = Html::parse_document(&html);
        assert_eq!(headline_links(&doc), 4);
    }
}
