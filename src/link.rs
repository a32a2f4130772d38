//! Links and pictures in what sources publish: a reference made absolute, the first real
//! picture of an HTML text; and an address fit to show or log. Pure functions.

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

/// Whether an image address may be handed to a provider or gateway to fetch: https, and not
/// a name or address of a private network (the gateway would fetch it from inside).
pub fn shareable_image(address: &str) -> bool {
    let Ok(url) = Url::parse(address) else {
        return false;
    };
    url.scheme() == "https"
        && match url.host() {
            Some(url::Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                d.contains('.')
                    && ![
                        "localhost",
                        ".local",
                        ".internal",
                        ".lan",
                        ".home.arpa",
                        ".intranet",
                    ]
                    .iter()
                    .any(|s| d == s.trim_start_matches('.') || d.ends_with(s))
            }
            Some(url::Host::Ipv4(ip)) => crate::netguard::is_public(ip.into()),
            Some(url::Host::Ipv6(ip)) => crate::netguard::is_public(ip.into()),
            None => false,
        }
}

/// Query parameters whose values are credentials.
const SECRET_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "key",
    "apikey",
    "api_key",
    "secret",
    "password",
    "pass",
    "pwd",
    "auth",
    "sig",
    "signature",
    "code",
];

/// `url` as it may be shown or logged: a password in it (`user:password@`) and the values of
/// query parameters that carry credentials (`?token=…`) replaced by `***`.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(k, v)| {
                let secret = SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str());
                (
                    k.into_owned(),
                    if secret { "***".into() } else { v.into_owned() },
                )
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
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
    #[test]
    fn only_public_https_images_are_handed_on() {
        for ok in [
            "https://www.comune.cremona.it/foto.jpg",
            "https://93.184.216.34/a.png",
        ] {
            assert!(super::shareable_image(ok), "{ok}");
        }
        for refused in [
            "http://www.comune.cremona.it/foto.jpg",
            "https://localhost/a.jpg",
            "https://intranet/a.jpg",
            "https://nas.local/a.jpg",
            "https://10.0.0.5/a.jpg",
            "https://[::1]/a.jpg",
            "https://169.254.169.254/latest/meta-data",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(!super::shareable_image(refused), "{refused}");
        }
    }

    #[test]
    fn addresses_are_shown_without_their_credentials() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            super::redacted(&url(
                "https://user:hunter2@comune.example.it/feed?token=abc&page=2"
            )),
            "https://user:***@comune.example.it/feed?token=***&page=2"
        );
        assert_eq!(
            super::redacted(&url("https://comune.example.it/feed")),
            "https://comune.example.it/feed"
        );
    }

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
