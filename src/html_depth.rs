//! How deeply an HTML document nests its elements, estimated by a quick scan before a full
//! parser sees it. HTML parsers (html5ever, behind scraper and html2text) look through the
//! stack of open elements at every tag, so a page of 100,000 nested `<div>`s costs minutes
//! of CPU: quadratic in the depth. No comune's page nests more than a few dozen deep, so a
//! document deeper than [`MAX_DEPTH`] is not handed to the parser. Pure functions.
//!
//! The scan follows what a parser keeps open: void elements (`<br>`, `<img>`) and those
//! whose end tag is optional and closed by the next one (`<p>`, `<li>`, `<td>`) do not add
//! to the depth; an end tag closes the innermost open element of its name (and the ones
//! inside it), and is ignored when none is open, as a parser does; `<x/>` closes itself only
//! inside `<svg>` or `<math>`; comments and the raw text of `<script>`, `<style>`,
//! `<textarea>` and `<title>` are skipped.

use std::collections::HashMap;

/// The deepest nesting handed to an HTML parser (each tag then costs at most this much).
pub const MAX_DEPTH: usize = 512;

/// Elements that never have content.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "keygen",
];

/// Elements whose end tag may be left out: the next of their kind (or their parent's end)
/// closes them, so they do not pile up.
const OPTIONAL_END: &[&str] = &[
    "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody", "tfoot",
    "colgroup", "caption", "html", "head", "body",
];

/// Elements whose content is text up to their end tag.
const RAW_TEXT: &[&str] = &["script", "style", "textarea", "title", "xmp"];

/// Whether `html` nests at most [`MAX_DEPTH`] deep.
pub fn within_limit(html: &str) -> bool {
    depth(html, MAX_DEPTH + 1) <= MAX_DEPTH
}

/// The deepest nesting found, or `stop` as soon as it is reached.
pub fn depth(html: &str, stop: usize) -> usize {
    let b = html.as_bytes();
    let mut open: Vec<String> = Vec::new();
    let mut count: HashMap<String, usize> = HashMap::new();
    let mut deepest = 0;
    let mut at = 0;
    while let Some(found) = b.get(at..).and_then(|rest| memchr::memchr(b'<', rest)) {
        let start = at + found + 1;
        let rest = b.get(start..).unwrap_or_default();
        if rest.starts_with(b"!--") {
            // A comment ends at "-->", or at "--!>" as parsers also accept.
            let ends = [&b"-->"[..], &b"--!>"[..]]
                .iter()
                .filter_map(|end| memchr::memmem::find(rest, end).map(|at| at + end.len()))
                .min();
            at = match ends {
                Some(end) => start + end,
                None => break,
            };
            continue;
        }
        let closing = rest.first() == Some(&b'/');
        let name_at = start + usize::from(closing);
        let name_len = b
            .get(name_at..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-')
            .count();
        if name_len == 0 || !b.get(name_at).is_some_and(u8::is_ascii_alphabetic) {
            at = start;
            continue;
        }
        let name = String::from_utf8_lossy(&b[name_at..name_at + name_len]).to_ascii_lowercase();
        let Some(tag_end) = tag_end(b, name_at + name_len) else {
            break;
        };
        at = tag_end + 1;
        if closing {
            if count.get(&name).is_some_and(|n| *n > 0) {
                // Close it and everything opened inside it.
                while let Some(top) = open.pop() {
                    if let Some(n) = count.get_mut(&top) {
                        *n = n.saturating_sub(1);
                    }
                    if top == name {
                        break;
                    }
                }
            }
            continue;
        }
        // Inside SVG and MathML, `<title>` and `<style>` hold markup, and `<x/>` closes
        // itself (an HTML parser opens `<div/>`).
        let foreign =
            count.get("svg").is_some_and(|n| *n > 0) || count.get("math").is_some_and(|n| *n > 0);
        if !foreign && RAW_TEXT.contains(&name.as_str()) {
            at = match end_tag(b, at, name.as_bytes()) {
                Some(end) => end,
                None => break,
            };
            continue;
        }
        let self_closing = foreign && tag_end > 0 && b.get(tag_end - 1) == Some(&b'/');
        if self_closing || VOID.contains(&name.as_str()) || OPTIONAL_END.contains(&name.as_str()) {
            continue;
        }
        *count.entry(name.clone()).or_default() += 1;
        open.push(name);
        deepest = deepest.max(open.len());
        if deepest >= stop {
            return stop;
        }
    }
    deepest
}

/// Where the tag whose name ends at `from` ends (its `>`), skipping quoted attribute values.
fn tag_end(b: &[u8], from: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    let mut after_equals = false;
    let mut at = from;
    while let Some(&c) = b.get(at) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            // A quote opens a value only right after "=" (spaces aside): `a='x'`.
            None if (c == b'"' || c == b'\'') && after_equals => quote = Some(c),
            None if c == b'>' => return Some(at),
            None => {}
        }
        if !c.is_ascii_whitespace() {
            after_equals = quote.is_none() && c == b'=';
        }
        at += 1;
    }
    None
}

/// Where the end tag `</name` (any case) starts, from `from` on: linear, with no copy.
fn end_tag(b: &[u8], from: usize, name: &[u8]) -> Option<usize> {
    let mut at = from;
    while let Some(found) = b
        .get(at..)
        .and_then(|rest| memchr::memmem::find(rest, b"</"))
    {
        let start = at + found;
        let candidate = b.get(start + 2..start + 2 + name.len())?;
        if candidate.eq_ignore_ascii_case(name) {
            return Some(start);
        }
        at = start + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_pages_are_shallow() {
        let page = "<!DOCTYPE html><html><head><title>a < b</title><script>if (a<b) { x = '<div>'; }</script></head>\
            <body><header><nav><ul><li><a href=/>Home<li><a href=/n>Notizie</a></ul></nav></header>\
            <main><div class=card><p>Uno<p>Due<br><img src=x.jpg><div><span>x</span></div></div>\
            <!-- <div><div><div> --></main></body></html>";
        assert_eq!(
            depth(page, 100),
            5,
            "header, nav, ul, a, and the unclosed a in the second li"
        );
        assert!(within_limit(page));
    }

    #[test]
    fn deep_nesting_is_found_whatever_the_disguise() {
        let n = 100_000;
        let plain = format!("{}x{}", "<div>".repeat(n), "</div>".repeat(n));
        assert!(!within_limit(&plain));
        // End tags of elements that are not open close nothing, in the parser as here.
        let stray = "<div></span>".repeat(n);
        assert!(!within_limit(&stray));
        let custom = "<x-box>".repeat(2_000);
        assert!(!within_limit(&custom));
        // What an attacker tried: ruby elements outside <ruby>, SVG's <title> holding markup,
        // a comment ended by "--!>", a ">" in a quoted attribute before "<script".
        for disguised in [
            format!("<html><body>{}", "<rb>".repeat(n)),
            format!("<svg><title>{}</title></svg>", "<div>".repeat(n)),
            format!("<!-- --!>{}-->", "<div>".repeat(n)),
            format!("<div title='>' <script>{}", "<div>".repeat(n)),
        ] {
            assert!(!within_limit(&disguised), "{}", &disguised[..40]);
        }
        // Many raw-text elements: the scan stays linear.
        let titles = "<title>a</title>".repeat(300_000);
        assert_eq!(depth(&titles, 1_000), 0);
        let slashed = "<div/>".repeat(2_000);
        assert!(!within_limit(&slashed), "an HTML parser opens <div/>");
        // An inline drawing with many self-closed shapes is not deep.
        let drawing = format!("<svg>{}</svg>", "<path d='M0 0'/>".repeat(2_000));
        assert_eq!(depth(&drawing, 1_000), 1);
        // Closed as they go: shallow however long.
        let flat = "<div>x</div>".repeat(n);
        assert_eq!(depth(&flat, 1_000), 1);
    }
}
