//! WhatsApp's own markup in a message's text: `*bold*`, `_italic_`, `~strikethrough~`, cut
//! into styled stretches the way WhatsApp shows them (the rules are in `http::bubble`, which
//! draws them, and `admin/app.js`, which follows the same steps). Pure: the admin UI, the
//! citizens' page and the sinks that speak another markup (Telegram's HTML, e-mail) read
//! the same stretches.

use std::ops::Range;

/// How a stretch of text is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bold,
    Italic,
    Strike,
}

impl Style {
    fn of(marker: char) -> Option<Style> {
        match marker {
            '*' => Some(Style::Bold),
            '_' => Some(Style::Italic),
            '~' => Some(Style::Strike),
            _ => None,
        }
    }
}

/// Letters and digits (Unicode `Alphabetic` or numeric: `[\p{Alphabetic}\p{N}]` in app.js).
fn word_char(c: Option<char>) -> bool {
    c.is_some_and(char::is_alphanumeric)
}

/// The byte ranges of the web addresses in `text`.
fn addresses(text: &str) -> Vec<Range<usize>> {
    static URL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)(?:https?://|www\.)\S+").expect("static regex")
    });
    URL.find_iter(text).map(|m| m.range()).collect()
}

/// The text cut into stretches, each plain (`None`) or styled.
pub fn spans(text: &str) -> Vec<(&str, Option<Style>)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let urls = addresses(text);
    let in_url = |byte: usize| urls.iter().any(|r| r.contains(&byte));
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let before = |i: usize| i.checked_sub(1).and_then(at);
    let opens = |i: usize| !word_char(before(i)) && at(i + 1).is_some_and(|c| !c.is_whitespace());
    let closes = |j: usize| before(j).is_some_and(|c| !c.is_whitespace()) && !word_char(at(j + 1));
    let mut out = Vec::new();
    let (mut last, mut i) = (0, 0);
    while let Some(&(start, marker)) = chars.get(i) {
        let found = Style::of(marker)
            .filter(|_| opens(i) && !in_url(start))
            .and_then(|style| {
                let end = (i + 2..chars.len())
                    .take_while(|&j| at(j) != Some('\n'))
                    .find(|&j| at(j) == Some(marker) && closes(j) && !in_url(chars[j].0))?;
                Some((style, end))
            });
        match found {
            Some((style, end)) => {
                let close = chars[end].0;
                out.push((text.get(last..start).unwrap_or_default(), None));
                out.push((
                    text.get(start + marker.len_utf8()..close)
                        .unwrap_or_default(),
                    Some(style),
                ));
                last = close + marker.len_utf8();
                i = end + 1;
            }
            None => i += 1,
        }
    }
    out.push((text.get(last..).unwrap_or_default(), None));
    out.retain(|(part, style)| !part.is_empty() || style.is_some());
    out
}

/// The text without WhatsApp's markers, as a reader of a feed sees it.
pub fn plain(text: &str) -> String {
    spans(text).into_iter().map(|(part, _)| part).collect()
}
