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
    "colgroup", "caption", "rb", "rt", "rtc", "rp", "html", "head", "body",
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
            at = match memchr::memmem::find(rest, b"-->") {
                Some(end) => start + end + 3,
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
        let tag_end = match memchr::memchr(b'>', b.get(name_at..).unwrap_or_default()) {
            Some(end) => name_at + end,
            None => break,
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
        if RAW_TEXT.contains(&name.as_str()) {
            let end_tag = format!("</{name}");
            let after = b.get(at..).unwrap_or_default();
            let lower = after.to_ascii_lowercase();
            at = match memchr::memmem::find(&lower, end_tag.as_bytes()) {
                Some(end) => at + end,
                None => break,
            };
            continue;
        }
        // `<x/>` closes itself only in SVG and MathML; an HTML parser opens `<div/>`.
        let foreign =
            count.get("svg").is_some_and(|n| *n > 0) || count.get("math").is_some_and(|n| *n > 0);
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
