//! Plain text out of feed HTML: entities decoded, tags dropped, whitespace collapsed, and
//! shortening at a sentence or word boundary. Pure functions.

use std::borrow::Cow;
use std::sync::LazyLock;

use html2text::render::TrivialDecorator;
use regex::Regex;

/// `<img>` elements: html2text would render their alt text into the summary.
static IMG_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<img(?-u:\b)[^>]*>").expect("static regex"));

/// HTML (or text that may hold entities) to one plain paragraph.
///
/// html2text does the real work (it is a full HTML5 parser, unlike a regex). A second pass
/// decodes entities that were escaped twice (`&amp;#39;`, common in Italian news feeds), and
/// control characters (NUL from `&#x0;`, C1 bytes from mis-decoded cp1252) are dropped.
pub fn html_to_text(html: &str) -> String {
    if html.trim().is_empty() {
        return String::new();
    }
    let rendered = if html.contains('<') || html.contains('&') {
        let html: Cow<str> = if html.contains("<img") || html.contains("<IMG") {
            IMG_TAG.replace_all(html, " ")
        } else {
            Cow::Borrowed(html)
        };
        html2text::config::with_decorator(TrivialDecorator::new())
            .no_table_borders()
            .string_from_read(html.as_bytes(), 100_000)
            .unwrap_or_else(|_| html.into_owned())
    } else {
        html.to_owned()
    };
    let decoded = if rendered.contains('&') {
        html_escape::decode_html_entities(&rendered).into_owned()
    } else {
        rendered
    };
    collapse_whitespace(&decoded)
}

/// Collapses runs of whitespace to one space and drops control characters.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c == '\u{a0}' {
            space = true;
        } else if c.is_control() {
            continue;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

/// Shortens `text` to at most `max` characters (Unicode scalar values), ending with "…" when
/// cut. Prefers the end of a sentence in the second half of the budget, then a word boundary.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    if max < 2 {
        return "…".chars().take(max).collect();
    }
    // Byte index of the char boundary after `max - 1` chars (room for the ellipsis).
    let budget = max - 1;
    let end = text
        .char_indices()
        .nth(budget)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let head = &text[..end];
    let half = head.len() / 2;
    let sentence_end = head
        .char_indices()
        .rev()
        .find(|&(i, c)| {
            matches!(c, '.' | '!' | '?') && i >= half && head[i + c.len_utf8()..].starts_with(' ')
        })
        .map(|(i, c)| i + c.len_utf8());
    if let Some(cut) = sentence_end {
        return head[..cut].to_owned();
    }
    // The head ends on a word boundary when the text goes on with a space.
    let at_boundary = text[end..].starts_with(char::is_whitespace);
    let cut = if at_boundary {
        head.len()
    } else {
        head.rfind(' ')
            .filter(|&i| i >= head.len() / 3)
            .unwrap_or(head.len())
    };
    let mut out = head[..cut]
        .trim_end_matches(|c: char| c == ',' || c == ';' || c == ':' || c.is_whitespace())
        .to_owned();
    out.push('…');
    out
}

/// Makes a title safe inside WhatsApp's `*bold*`: a stray `*`, `_`, `~` or backtick would
/// end the bold early or start italics, so they are replaced by look-alikes that WhatsApp
/// does not treat as markers.
pub fn neutralise_markers(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '*' => '∗',
            '_' => ' ',
            '~' => '∼',
            '`' => '\'',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tags_and_decodes_entities() {
        let html = "<p>Lavori in <b>via Roma</b> &amp; piazza Duomo.</p>\n<p>Chiusura   dalle 8&nbsp;alle 18.</p>";
        assert_eq!(
            html_to_text(html),
            "Lavori in via Roma & piazza Duomo. Chiusura dalle 8 alle 18."
        );
    }

    #[test]
    fn decodes_double_escaped_entities() {
        assert_eq!(
            html_to_text("L&amp;#39;assessore d&amp;#39;accordo"),
            "L'assessore d'accordo"
        );
    }

    #[test]
    fn drops_links_images_and_scripts() {
        let html = r#"<p>Vedi <a href="/x">il bando</a>.<img src="a.jpg" alt="Foto"><script>alert(1)</script></p>"#;
        assert_eq!(html_to_text(html), "Vedi il bando.");
    }

    #[test]
    fn drops_control_characters() {
        assert_eq!(collapse_whitespace("a\u{0}b\u{9f}c\u{7f}"), "abc");
    }

    #[test]
    fn truncates_at_sentence_then_word() {
        let text =
            "Prima frase completa qui. Seconda frase che continua a lungo senza fermarsi mai";
        assert_eq!(truncate(text, 40), "Prima frase completa qui.");
        let words = "uno due tre quattro cinque sei sette otto nove dieci";
        let cut = truncate(words, 20);
        assert_eq!(cut, "uno due tre quattro…");
        assert!(cut.chars().count() <= 20);
        assert_eq!(truncate("breve", 20), "breve");
    }

    #[test]
    fn truncates_on_char_boundaries() {
        let text = "è".repeat(50);
        let cut = truncate(&text, 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn neutralises_whatsapp_markers() {
        assert_eq!(
            neutralise_markers("*Avviso* _urgente_ ~x~"),
            "∗Avviso∗ urgente ∼x∼"
        );
    }
}
