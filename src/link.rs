//! Links and pictures in what sources publish: a reference made absolute, the first real
//! picture of an HTML text. Pure functions.

use std::sync::LazyLock;

use regex::Regex;
use url::Url;

/// An absolute http(s) URL from a possibly relative reference; `data:`, `javascript:`,
/// bare fragments and other schemes give `None`.
pub fn http_url(href: &str, base: Option<&Url>) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    let url = match base {
        Some(base) => base.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// The first `<img src>` of an HTML fragment. A regex rather than a DOM parse: it runs on the
/// text of every message made, and only the attribute is wanted.
pub fn first_img(html: &str, base: Option<&Url>) -> Option<Url> {
    static IMG: LazyLock<Regex> = LazyLock::new(|| {
        // An ASCII word boundary: a Unicode one stops the fast (lazy DFA) engine on any
        // non-ASCII text, and attribute names are ASCII.
        Regex::new(r#"(?i)<img\s[^>]*?(?-u:\b)src\s*=\s*["']([^"']+)["']"#).expect("static regex")
    });
    if !html.contains("<img") && !html.contains("<IMG") {
        return None;
    }
    // A tracking pixel declares itself: width or height 0, 1 or 2.
    static TINY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?i)(?-u:\b)(?:width|height)\s*=\s*["']?\s*[0-2](?:px)?\s*(?:["'\s/>]|$)"#)
            .expect("static regex")
    });
    // Finding a match is much faster than capturing in it: capture only in each match.
    IMG.find_iter(html)
        .filter(|m| {
            let rest = html.get(m.start()..).unwrap_or_default();
            let tag = rest.split_once('>').map_or(rest, |(tag, _)| tag);
            !TINY.is_match(tag)
        })
        .filter_map(|m| IMG.captures(m.as_str())?.get(1))
        .find_map(|m| http_url(&html_escape::decode_html_entities(m.as_str()), base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracking_pixel_is_not_the_image() {
        let html = r#"<p>Testo</p><img src="https://cpx.example.de/cpx.php?x=1" width="1" height="1" alt=""><img src="/foto.jpg" width="640">"#;
        let base = Url::parse("https://comune.example.it/").unwrap();
        assert_eq!(
            first_img(html, Some(&base))
                .map(|u| u.to_string())
                .as_deref(),
            Some("https://comune.example.it/foto.jpg")
        );
    }
}
