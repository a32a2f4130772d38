//! Refuses XML that declares entities. External entities (XXE: `<!ENTITY x SYSTEM
//! "file:///etc/passwd">`) and entity expansion ("billion laughs") both need an `<!ENTITY>`
//! declaration in the document type's internal subset, and no feed or alert needs one. A plain
//! `<!DOCTYPE rss PUBLIC … "…rss-0.91.dtd">` (common in RSS 0.91) is allowed: the parsers we
//! use never fetch external DTDs.
//!
//! The rule does not try to find where the document type ends (a `>` in a quoted system id
//! or a `]` in a comment fooled an earlier version that did): a document with a DOCTYPE and
//! an `<!ENTITY` anywhere is refused. An entity can be declared in no other way, and no
//! comune's feed has both.

use super::ParseError;

/// Checks an XML document.
pub fn check(text: &str) -> Result<(), ParseError> {
    let bytes = text.as_bytes();
    // Every declaration starts with "<!": memchr finds those fast, and most documents have
    // none but their CDATA sections and comments.
    if !markup_decls(bytes).any(|at| starts_with_ci(bytes, at, b"<!DOCTYPE")) {
        return Ok(());
    }
    if markup_decls(bytes).any(|at| starts_with_ci(bytes, at, b"<!ENTITY")) {
        return Err(ParseError::Hostile(
            "the document declares XML entities (a DOCTYPE with <!ENTITY>), which feeds never need"
                .into(),
        ));
    }
    Ok(())
}

/// Where "<!" stands in `bytes`.
fn markup_decls(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memmem::find_iter(bytes, b"<!")
}

fn starts_with_ci(bytes: &[u8], at: usize, needle: &[u8]) -> bool {
    bytes
        .get(at..at + needle.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_entities_allows_public_dtd() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert!(matches!(check(xxe), Err(ParseError::Hostile(_))));
        let laughs = "<!DOCTYPE l [<!entity a \"aaaa\"><!ENTITY b \"&a;&a;\">]><l>&b;</l>";
        assert!(check(laughs).is_err());
        let rss091 = r#"<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss/>"#;
        assert!(check(rss091).is_ok());
        assert!(check("<rss><channel/></rss>").is_ok());
        // A "]" in a comment does not end the subset early.
        let hidden =
            r#"<!DOCTYPE r [<!-- ] --><!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert!(check(hidden).is_err());
        let cdata = "<rss><![CDATA[<b>x</b>]]><!-- c --></rss>";
        assert!(check(cdata).is_ok());
        // A ">" in a quoted system id, or a comment, before the subset: still refused.
        let quoted =
            r#"<!DOCTYPE r SYSTEM "a>b" [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert!(check(quoted).is_err());
        let commented = r#"<!DOCTYPE r <!-- > --> [<!ENTITY x "y">]><r>&x;</r>"#;
        assert!(check(commented).is_err());
        // After the root element (where a lenient parser might still read it): refused.
        let late = r#"<r/><!DOCTYPE r [<!ENTITY x "y">]>"#;
        assert!(check(late).is_err());
    }
}
