//! What [`super::format`] promises of every message, as a check: `format` asserts it in
//! debug builds (so the fuzz targets and the tests check it on every message they make), and
//! the property tests in `props.rs` drive it with generated items.
//!
//! The promises: within WhatsApp's limit; the official link alone on a line; and in what
//! the source wrote (the title and the summary, not the editor's label, note or footer) no
//! HTML markup, no HTML entities and no WhatsApp formatting markers.

use super::{FormatOptions, MAX_TEXT};
use crate::item::Message;

/// The first promise `msg` breaks, in words; `None` when it keeps them all.
pub fn broken_promise(msg: &Message, opts: &FormatOptions) -> Option<String> {
    let length = msg.text.chars().count();
    if length > MAX_TEXT {
        return Some(format!("{length} characters, over WhatsApp's {MAX_TEXT}"));
    }
    if !msg.text.lines().any(|line| line == msg.url) {
        return Some(format!(
            "the link {:?} is not on a line of its own",
            msg.url
        ));
    }
    // The editor's lines are theirs to format.
    let label = opts
        .template
        .label
        .as_deref()
        .map(crate::text::neutralise_text_markers);
    let editors: Vec<&str> = [
        label.as_deref(),
        opts.note.as_deref(),
        opts.footer.as_deref(),
    ]
    .into_iter()
    .flatten()
    .flat_map(str::lines)
    .map(str::trim)
    .collect();
    for (i, line) in msg.text.lines().enumerate() {
        if line == msg.url || editors.contains(&line.trim()) {
            continue;
        }
        // The title's own bold.
        let line = match line.strip_prefix('*').and_then(|l| l.strip_suffix('*')) {
            Some(title) if i == 0 => title,
            _ => line,
        };
        if let Some(marker) = whatsapp_marker(line) {
            return Some(format!("the marker {marker:?} would format {line:?}"));
        }
        if let Some(tag) = crate::text::markup(line) {
            return Some(format!("markup {tag:?} in {line:?}"));
        }
        if html_escape::decode_html_entities(line) != line {
            return Some(format!("an HTML entity in {line:?}"));
        }
    }
    None
}

/// A character WhatsApp could read as a formatting marker: `*`, `~` or a backtick anywhere
/// but inside a web or e-mail address, `_` at the edge of a word.
fn whatsapp_marker(line: &str) -> Option<char> {
    for token in line.split_whitespace() {
        let chars: Vec<char> = token.chars().collect();
        let address = crate::text::is_address(token);
        for (j, &c) in chars.iter().enumerate() {
            let at_edge = j == 0 || j + 1 == chars.len();
            let marker = match c {
                // Inside an address (a path's "~mario", a "a_b" name) they format nothing.
                '*' | '~' | '`' | '_' if address => at_edge,
                '*' | '~' | '`' => true,
                '_' => {
                    let word = |k: Option<usize>| {
                        k.and_then(|k| chars.get(k))
                            .is_some_and(|n| n.is_alphanumeric())
                    };
                    !(word(j.checked_sub(1)) && word(Some(j + 1)))
                }
                _ => false,
            };
            if marker {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_as_whatsapp_reads_them() {
        for formatted in [
            "*bold*",
            "_italics_",
            "~0321 123~",
            "`code`",
            "*https://x.it*",
        ] {
            assert!(whatsapp_marker(formatted).is_some(), "{formatted}");
        }
        for plain in [
            "mario_rossi",
            "https://x.it/~mario/a_b*c",
            "info@comune.it",
            "∗ ∼",
        ] {
            assert_eq!(whatsapp_marker(plain), None, "{plain}");
        }
    }
}
