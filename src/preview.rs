//! `banditore preview`: one document in, the messages it would produce out. Sends nothing,
//! stores nothing.

use url::Url;

use crate::charset;
use crate::config::SourceKind;
use crate::format::{format, FormatOptions};
use crate::ident::Identity;
use crate::item::Message;
use crate::source::{self, ParseContext, ParseError};

/// The messages of one document, and the items that could not become messages (with why).
#[derive(Debug, Default)]
pub struct Preview {
    pub messages: Vec<Message>,
    pub skipped: Vec<(String, String)>,
}

/// Parses and formats a document. `name` stands in for the source name.
pub fn preview(
    bytes: &[u8],
    content_type: Option<&str>,
    name: &str,
    kind: Option<SourceKind>,
    base: Option<Url>,
    tz: chrono_tz::Tz,
) -> Result<Preview, ParseError> {
    let text = charset::decode_xml(bytes, content_type);
    let kind = kind.unwrap_or_else(|| source::detect_kind(&text));
    let ctx = ParseContext::new(base, tz);
    let items = source::parse(kind, &text, &ctx)?;
    let opts = FormatOptions::new(name, kind.as_str());
    let mut out = Preview::default();
    for item in items {
        let identity = Identity::of(&item);
        match format(&item, &identity, &opts) {
            Ok(m) => out.messages.push(m),
            Err(e) => out.skipped.push((item.title.clone(), e.to_string())),
        }
    }
    Ok(out)
}
