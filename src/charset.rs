//! Bytes to text. The order follows RFC 7303 for XML over HTTP: the `charset` of the HTTP
//! `Content-Type`, then a byte-order mark, then the XML declaration (or an HTML `<meta charset>`),
//! then UTF-8 when the bytes are valid UTF-8, else windows-1252 (what "ISO-8859-1" means on the
//! web). encoding_rs does the decoding; malformed sequences become U+FFFD, never an error.

use std::borrow::Cow;
use std::sync::LazyLock;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use regex::bytes::Regex;

static XML_DECL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']"#)
        .expect("static regex")
});

static META_CHARSET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)"#).expect("static regex")
});

/// The encoding named by a `Content-Type` header value, if any and if known.
pub fn from_content_type(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("charset") {
            Encoding::for_label(v.trim().trim_matches(['"', '\'']).as_bytes())
        } else {
            None
        }
    })
}

/// Decides the encoding of a document.
pub fn detect(bytes: &[u8], content_type: Option<&str>) -> &'static Encoding {
    if let Some(enc) = content_type.and_then(from_content_type) {
        return enc;
    }
    if let Some((enc, _)) = Encoding::for_bom(bytes) {
        return enc;
    }
    let head = &bytes[..bytes.len().min(1024)];
    if let Some(label) = XML_DECL
        .captures(head)
        .or_else(|| META_CHARSET.captures(head))
        .and_then(|c| c.get(1))
    {
        if let Some(enc) = Encoding::for_label(label.as_bytes()) {
            // A document that declares UTF-16 but reached us as bytes we can read
            // as ASCII is not UTF-16; encoding_rs maps that case to UTF-8 too.
            return enc.output_encoding();
        }
    }
    if std::str::from_utf8(bytes).is_ok() {
        UTF_8
    } else {
        WINDOWS_1252
    }
}

/// Decodes a document to UTF-8 text, without a BOM.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> String {
    let enc = detect(bytes, content_type);
    let (text, _, _) = enc.decode(bytes);
    match text {
        Cow::Borrowed(s) => s.strip_prefix('\u{feff}').unwrap_or(s).to_owned(),
        Cow::Owned(s) => s.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(s),
    }
}

/// Decodes an XML document and rewrites its declaration to say UTF-8, so that an XML parser
/// reading the text does not decode it a second time with the original label. Every
/// declaration is rewritten, not only a first one: quick-xml (under feed-rs) panics when a
/// declaration later in the document (after junk, or a second one) names another encoding.
pub fn decode_xml(bytes: &[u8], content_type: Option<&str>) -> String {
    let text = decode(bytes, content_type);
    static DECL: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r#"(<\?xml\b(?:[^?]|\?[^>])*?encoding\s*=\s*)(?:"([^"<>?]*)"|'([^'<>?]*)')"#,
        )
        .expect("static regex")
    });
    let says_utf8 = |c: &regex::Captures| {
        c.get(2)
            .or(c.get(3))
            .is_some_and(|label| label.as_str().eq_ignore_ascii_case("utf-8"))
    };
    if DECL.captures_iter(&text).all(|c| says_utf8(&c)) {
        return text; // no copy of the document
    }
    DECL.replace_all(&text, "${1}\"UTF-8\"").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_wins() {
        let bytes = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>\xe8</a>";
        assert_eq!(
            detect(bytes, Some("text/xml; charset=ISO-8859-1")),
            WINDOWS_1252
        );
        assert!(decode(bytes, Some("text/xml; charset=iso-8859-1")).contains("<a>è</a>"));
    }

    #[test]
    fn bom_then_prolog() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<a>è</a>".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(decode(&utf16, None), "<a>è</a>");
        let latin1 = b"<?xml version='1.0' encoding='ISO-8859-1'?><t>Citt\xe0</t>";
        let text = decode_xml(latin1, Some("application/rss+xml"));
        assert_eq!(text, "<?xml version='1.0' encoding=\"UTF-8\"?><t>Città</t>");
        // A declaration after junk, or a second one, says UTF-8 too (quick-xml panicked).
        let late =
            b"\0junk<?xml version='1.0' encoding=' latin1 '?><t/><?xml encoding=\"UTF-16\"?>";
        assert_eq!(
            decode_xml(late, None),
            "\0junk<?xml version='1.0' encoding=\"UTF-8\"?><t/><?xml encoding=\"UTF-8\"?>"
        );
    }

    #[test]
    fn windows_1252_quotes() {
        let text = decode(b"<t>\x93ciao\x94 \x80</t>", None);
        assert_eq!(text, "<t>\u{201c}ciao\u{201d} €</t>");
    }

    #[test]
    fn undeclared_utf8_and_latin1() {
        assert_eq!(decode("<t>perché</t>".as_bytes(), None), "<t>perché</t>");
        assert_eq!(decode(b"<t>perch\xe9</t>", None), "<t>perché</t>");
    }

    #[test]
    fn html_meta_charset() {
        let page = b"<html><head><meta charset=\"iso-8859-1\"></head><body>\xe0</body></html>";
        assert!(decode(page, Some("text/html")).contains("<body>à</body>"));
    }
}
