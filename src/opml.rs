//! OPML, the list of feeds every feed reader imports and exports: read (the feeds of an
//! outline, at any depth) for `source import-opml`, written for `source export-opml`. Pure.

use url::Url;

/// One feed of an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// The outline's title (or text), trimmed; may be empty.
    pub title: String,
    pub url: Url,
}

/// The feeds of an OPML document: every `<outline>` with an http(s) `xmlUrl`, in document
/// order. Outlines without one (folders) are read through; a document that is not OPML, or
/// declares entities, is an error.
pub fn feeds(text: &str) -> Result<Vec<OpmlFeed>, String> {
    crate::source::xml_guard::check(text).map_err(|e| e.to_string())?;
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
    if !doc.root_element().has_tag_name("opml") {
        return Err(format!(
            "not OPML: the document is <{}>, not <opml>",
            doc.root_element().tag_name().name()
        ));
    }
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name("outline"))
        .filter_map(|n| {
            let url = Url::parse(n.attribute("xmlUrl")?.trim()).ok()?;
            if !matches!(url.scheme(), "http" | "https") {
                return None;
            }
            let title = n
                .attribute("title")
                .or(n.attribute("text"))
                .unwrap_or_default()
                .trim()
                .to_owned();
            Some(OpmlFeed { title, url })
        })
        .collect())
}

/// An OPML 2.0 document listing `feeds` (title, address), titled `title`.
pub fn render(title: &str, feeds: &[(String, Url)]) -> String {
    use html_escape::encode_double_quoted_attribute as attr;
    use html_escape::encode_text as text;
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n    <title>{}</title>\n  </head>\n  <body>\n",
        text(title)
    );
    for (name, url) in feeds {
        out.push_str(&format!(
            "    <outline type=\"rss\" text=\"{0}\" title=\"{0}\" xmlUrl=\"{1}\"/>\n",
            attr(name),
            attr(url.as_str())
        ));
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_at_any_depth_and_back() {
        let opml = r#"<?xml version="1.0"?>
            <opml version="1.0"><head><title>Comuni</title></head><body>
              <outline text="Lombardia">
                <outline type="rss" text="Cremona &amp; dintorni" xmlUrl="https://www.comune.cremona.it/rss.xml"/>
                <outline text="Senza feed" htmlUrl="https://example.it/"/>
                <outline text="Mail" xmlUrl="mailto:x@example.it"/>
              </outline>
              <outline title="Leinì" xmlUrl=" https://www.comune.leini.to.it/feed/ "/>
            </body></opml>"#;
        let found = feeds(opml).unwrap();
        assert_eq!(
            found
                .iter()
                .map(|f| (f.title.as_str(), f.url.as_str()))
                .collect::<Vec<_>>(),
            [
                (
                    "Cremona & dintorni",
                    "https://www.comune.cremona.it/rss.xml"
                ),
                ("Leinì", "https://www.comune.leini.to.it/feed/"),
            ]
        );
        let written = render(
            "banditore",
            &found
                .iter()
                .map(|f| (f.title.clone(), f.url.clone()))
                .collect::<Vec<_>>(),
        );
        assert_eq!(feeds(&written).unwrap(), found);
        assert!(feeds("<rss/>").unwrap_err().contains("not OPML"));
        let xxe = r#"<!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]><opml><body><outline xmlUrl="https://a.it/&x;"/></body></opml>"#;
        assert!(feeds(xxe).is_err());
    }
}
