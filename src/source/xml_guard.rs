//! Refuses XML that declares entities. External entities (XXE: `<!ENTITY x SYSTEM
//! "file:///etc/passwd">`) and entity expansion ("billion laughs") both need an `<!ENTITY>`
//! declaration in the document type's internal subset, and no feed or alert needs one. A plain
//! `<!DOCTYPE rss PUBLIC … "…rss-0.91.dtd">` (common in RSS 0.91) is allowed: the parsers we
//! use never fetch external DTDs.

use super::ParseError;

/// Checks the prolog of an XML document.
pub fn check(text: &str) -> Result<(), ParseError> {
    let Some(start) = find_ci(text, "<!DOCTYPE") else {
        return Ok(());
    };
    let rest = &text[start..];
    let bracket = rest.find('[');
    let close = rest.find('>');
    let subset = match (bracket, close) {
        (Some(b), Some(c)) if b < c => {
            let end = rest[b..].find("]").map_or(rest.len(), |e| b + e);
            &rest[b..end]
        }
        _ => return Ok(()),
    };
    if find_ci(subset, "<!ENTITY").is_some() {
        return Err(ParseError::Hostile(
            "the document declares XML entities (a DOCTYPE with <!ENTITY>), which feeds never need"
                .into(),
        ));
    }
    Ok(())
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    haystack
        .as_bytes()
        .windows(n)
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
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
    }
}
