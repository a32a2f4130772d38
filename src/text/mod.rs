//! Plain text out of feed HTML: entities decoded, tags dropped, whitespace collapsed, and
//! shortening at a sentence or word boundary. Pure functions.

use std::borrow::Cow;
use std::sync::LazyLock;

use html2text::render::TrivialDecorator;
use regex::Regex;

/// `<img>` elements: html2text would render their alt text into the summary.
static IMG_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<img(?-u:\b)[^>]*>").expect("static regex"));

/// Any tag, for HTML too deeply nested to parse ([`crate::html_depth`]).
static ANY_TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<[^>]*>").expect("static regex"));

/// The start of a list item: its text gets a "•" and a line of its own.
static LIST_ITEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)<li(?-u:\b)[^>]*>").expect("static regex"));

/// The end of a heading, a paragraph or a line: marked before rendering, so that one that
/// ends without punctuation gets a full stop instead of running into what follows ("Orari
/// Dal lunedì…", "Nuovi orari della biblioteca Dal lunedì…").
static HEADING_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)</h[1-6]\s*>|</p\s*>|<br\s*/?>").expect("static regex"));

/// Where a heading, paragraph or line ended, in the rendered text (a private-use character
/// no source sends).
const HEADING_MARK: char = '\u{E000}';

/// HTML (or text that may hold entities) to one plain paragraph; list items become "•" lines.
///
/// html2text does the real work (it is a full HTML5 parser, unlike a regex). A second pass
/// decodes entities that were escaped twice (`&amp;#39;`, common in Italian news feeds), and
/// control characters (NUL from `&#x0;`, C1 bytes from mis-decoded cp1252) are dropped.
pub fn html_to_text(html: &str) -> String {
    render(html, 2)
}

/// [`html_to_text`], rendering again what decodes to markup at most `again` more times.
fn render(html: &str, again: u8) -> String {
    if html.trim().is_empty() {
        return String::new();
    }
    let rendered = if html.contains('<') && !crate::html_depth::within_limit(html) {
        // Too deep for a parser to read in reasonable time: the tags are dropped as they are.
        ANY_TAG.replace_all(html, " ").into_owned()
    } else if html.contains('<') || html.contains('&') {
        let html: Cow<str> = if html.contains("<img") || html.contains("<IMG") {
            IMG_TAG.replace_all(html, " ")
        } else {
            Cow::Borrowed(html)
        };
        let html: Cow<str> = if html.contains("<li") || html.contains("<LI") {
            Cow::Owned(LIST_ITEM.replace_all(&html, "${0}• ").into_owned())
        } else {
            html
        };
        let html: Cow<str> = if HEADING_END.is_match(&html) {
            Cow::Owned(
                HEADING_END
                    .replace_all(&html, format!("{HEADING_MARK}${{0}}").as_str())
                    .into_owned(),
            )
        } else {
            html
        };
        let rendered = html2text::config::with_decorator(TrivialDecorator::new())
            .no_table_borders()
            .string_from_read(html.as_bytes(), 100_000)
            .unwrap_or_else(|_| html.into_owned());
        end_headings(rendered)
    } else {
        html.to_owned()
    };
    // Gone before markup is looked for: "<\u{202e}a>" would otherwise become "<a>" later.
    let decoded = without_unwanted(decode_entities(&rendered));
    // Markup escaped in the source ("&lt;p&gt;Testo&lt;/p&gt;") is markup once decoded.
    if markup(&decoded).is_some() {
        if again > 0 {
            return render(&decoded, again - 1);
        }
        // Still markup after every rendering allowed (a broken CDATA, escapes nested deeper):
        // its tags are dropped as they are, so no message ever carries one.
        return collapse_whitespace(&ANY_TAG.replace_all(&decoded, " "));
    }
    collapse_whitespace(&decoded)
}

/// A full stop where a marked heading ends without punctuation; the marks removed.
fn end_headings(text: String) -> String {
    if !text.contains(HEADING_MARK) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (i, part) in text.split(HEADING_MARK).enumerate() {
        if i > 0 {
            let last = out.trim_end().chars().next_back();
            if last.is_some_and(|c| c.is_alphanumeric() || matches!(c, ')' | '»' | '"' | '”')) {
                let end = out.trim_end().len();
                out.insert(end, '.');
            }
        }
        out.push_str(part);
    }
    out
}

/// Elements that mean a text still holds markup (a text may well say "a < b", or quote with
/// "<<I lavori inizieranno domani>>": attributes must have a value to count).
static MARKUP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)<!--|</?(?:p|br|div|span|a|img|b|i|u|strong|em|ul|ol|li|h[1-6]|table|tr|td|script|style|iframe)(?:\s+[a-zA-Z][a-zA-Z0-9:-]*\s*=\s*(?:"[^"<>]*"|'[^'<>]*'|[^\s"'<>=`]+))*\s*/?>"#,
    )
    .expect("static regex")
});

/// The first HTML tag in `text`, if it holds any.
pub fn markup(text: &str) -> Option<&str> {
    MARKUP.find(text).map(|m| m.as_str())
}

/// A run of escaped ampersands ("&amp;", "&#38;", "&#x26;"), all but the first "&".
static AMP_CHAIN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)&(?:amp;|#0*38;|#x0*26;)+").expect("static regex"));

/// A text a source says is plain, one paragraph: markup (some issuers write it anyway) read
/// as HTML, entities decoded, whitespace collapsed with list lines kept.
pub fn plain_to_text(text: &str) -> String {
    let decoded = without_unwanted(decode_entities(text));
    if markup(&decoded).is_some() {
        html_to_text(text)
    } else {
        collapse_whitespace(&decoded)
    }
}

/// The text without the characters [`collapse_whitespace`] drops (controls other than
/// whitespace, and the [`unwanted`] ones), so that what they separated is seen joined.
fn without_unwanted(text: Cow<'_, str>) -> Cow<'_, str> {
    let drop = |c: char| (c.is_control() && !c.is_whitespace()) || unwanted(c);
    if text.chars().any(drop) {
        Cow::Owned(text.chars().filter(|&c| !drop(c)).collect())
    } else {
        text
    }
}

/// Decodes HTML entities, however many times they were escaped ("&amp;amp;lt;" is "<"
/// escaped three times: a chain of "&amp;" is one "&").
fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    // What decoding joins ("&&#108;t;" is "&lt;" once decoded) is decoded again, a few times.
    let mut decoded = text.to_owned();
    for _ in 0..5 {
        let again =
            html_escape::decode_html_entities(&AMP_CHAIN.replace_all(&decoded, "&")).into_owned();
        if again == decoded {
            break;
        }
        decoded = again;
        if !decoded.contains('&') {
            break;
        }
    }
    Cow::Owned(decoded)
}

/// Lower case without accents, for searches that forgive both ("Città" finds "citta").
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(crate::ident::fold_accent)
        .collect()
}

/// Characters that show nothing (zero-width spaces and joiners, the soft hyphen, direction
/// marks, the byte order mark): removed, so that "ST\u{200B}OP" is STOP.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
    )
}

/// A citizen's message (or a keyword of the configuration) as its words are compared: compatibility forms folded, invisible characters
/// gone, upper case without accents, punctuation as spaces.
pub fn fold_keyword(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfkc()
        .filter(|c| !invisible(*c))
        .flat_map(char::to_lowercase)
        .map(crate::ident::fold_accent)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .to_uppercase()
}

/// Characters no text of ours carries: noncharacters (U+FFFE, U+FFFF and the like, which XML
/// forbids: one would make a whole feed unreadable) and the bidirectional embeddings,
/// overrides and isolates (an unclosed one reverses what follows it, the link included).
pub fn unwanted(c: char) -> bool {
    let n = c as u32;
    n & 0xFFFE == 0xFFFE
        || (0xFDD0..=0xFDEF).contains(&n)
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Collapses runs of whitespace to one space and drops control characters (and the
/// [`unwanted`] ones). A line break before a "•" (a list item) is kept, and so is the one
/// ending a list.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    let mut newline = false;
    let mut in_list = false;
    for c in s.chars() {
        if c.is_whitespace() || c == '\u{a0}' {
            space = true;
            newline |= c == '\n';
        } else if c.is_control() || unwanted(c) {
            continue;
        } else {
            if space && !out.is_empty() {
                let breaks = newline && (c == '•' || in_list);
                out.push(if breaks { '\n' } else { ' ' });
                if breaks {
                    in_list = c == '•';
                }
            } else if out.is_empty() {
                in_list = c == '•';
            }
            space = false;
            newline = false;
            out.push(c);
        }
    }
    out
}

/// Boilerplate feeds and pages wrap around the text, each with what replaces it.
static BOILERPLATE: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // The source cut its own text.
        (r"\s*\[\s*(?:…|\.\.\.|&hellip;)\s*\]", "…"),
        (r"(?i)\bL['’]articolo\s.{1,300}?\sproviene da\s[^\n]{1,200}?(?:\.\s|\.?$)", ""),
        (r"(?i)\bThe post\s.{1,300}?\sappeared first on\s[^\n]{1,200}?(?:\.\s|\.?$)", ""),
        (
            r"(?i)\b(?:leggi tutto|continua a leggere|leggi di più|leggi l['’]articolo(?: completo)?|read more|scopri di più|approfondisci)\b\s*(?:[»›→>]+|\.\.\.|…)?",
            "",
        ),
        (
            r"(?i)\bcondividi(?:\s+su)?\s*:?[\s•]*(?:(?:(?:facebook|twitter|x|whatsapp|linkedin|telegram|e-?mail|stampa|print|pinterest|copia link)\b|google\+?)[\s,|·•]*)+",
            "",
        ),
        // The topics and date line, and the "more information" heading, of Design Comuni pages.
        (
            r"(?i)\bargomenti(?:\s+\p{L}+){1,6}?\s+data:\s*\d{1,2}\s+\p{L}+\s+\d{4}\s*",
            "",
        ),
        (r"(?i)\bulteriori informazioni\b\s*", ""),
        // The action bar of Design Comuni pages.
        (
            r"(?i)\bvedi azioni[\s•]*(?:(?:scarica|stampa|ascolta|invia|condividi)\b[\s,|·•]*)+",
            "",
        ),
        (
            r"(?i)^\s*(?:data(?: di)? pubblicazione|pubblicato(?: il)?|ultimo aggiornamento|ultima modifica|data)\s*:?\s*(?:\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{1,2}\s+\p{L}+\s+\d{4})(?:,?\s*(?:ore\s*)?\d{1,2}[:.]\d{2})?\s*[-–—:]?\s*",
            "",
        ),
    ]
    .into_iter()
    .map(|(re, with)| (Regex::new(re).expect("static regex"), with))
    .collect()
});

/// A sentence of a cookie banner.
static COOKIE_SENTENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[^.!?\n]*\bcookie[^.!?\n]*(?:[.!?]|$)").expect("static regex")
});

/// Removes what is not the news from a plain text: "Leggi tutto", "Continua a leggere",
/// "[…]" (becomes "…"), "L'articolo … proviene da …", "The post … appeared first on …",
/// share bars, cookie banners, a date label at the start.
pub fn strip_boilerplate(text: &str) -> String {
    let mut out: Cow<str> = Cow::Borrowed(text);
    for (re, with) in BOILERPLATE.iter() {
        if re.is_match(&out) {
            out = Cow::Owned(re.replace_all(&out, *with).into_owned());
        }
    }
    if out.to_ascii_lowercase().contains("cookie") {
        out = Cow::Owned(
            COOKIE_SENTENCE
                .replace_all(&out, |c: &regex::Captures| {
                    let sentence = c.get(0).map_or("", |m| m.as_str());
                    let lower = sentence.to_lowercase();
                    let banner = [
                        "utilizza",
                        "usa ",
                        "accett",
                        "consenso",
                        "privacy",
                        "navigazione",
                    ]
                    .iter()
                    .any(|w| lower.contains(w));
                    if banner {
                        String::new()
                    } else {
                        sentence.to_owned()
                    }
                })
                .into_owned(),
        );
    }
    let trimmed = out.trim().trim_end_matches(['|', '·', '-', '–']).trim();
    // Removals can leave doubled spaces; line breaks before list items stay.
    trimmed
        .split('\n')
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
        .replace(" …", "…")
        .replace(".…", "…")
}

/// Neutralises WhatsApp's formatting markers in a source's text, so that nothing the source
/// wrote turns into bold, italics, strike-through or monospace (a phone number between two
/// "~" would be struck through). Inside web and e-mail addresses markers format nothing and
/// stay, but not at an address's edges ("*https://…*"); "_" is dropped only where it could
/// open or close italics (at a word's edge), so "mario_rossi" stays. Idempotent.
pub fn neutralise_text_markers(text: &str) -> Cow<'_, str> {
    if !text.contains(MARKERS) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    // Tokens with the whitespace after them, so line breaks stay where they are.
    for token in text.split_inclusive(char::is_whitespace) {
        let (word, space) = match token.char_indices().last() {
            Some((i, c)) if c.is_whitespace() => token.split_at(i),
            _ => (token, ""),
        };
        if is_address(word) {
            out.push_str(word.trim_matches(MARKERS));
            out.push_str(space);
            continue;
        }
        let chars: Vec<char> = word.chars().collect();
        let before = out.len();
        for (j, &c) in chars.iter().enumerate() {
            let word_char = |k: Option<usize>| {
                k.and_then(|k| chars.get(k))
                    .is_some_and(|n| n.is_alphanumeric())
            };
            match c {
                '*' => out.push('∗'),
                '~' => out.push('∼'),
                '`' => out.push('’'),
                // Dropped, unless that would join markup or an entity ("&_amp;", "<_a").
                '_' if !(word_char(j.checked_sub(1)) && word_char(Some(j + 1))) => {
                    let joins = j
                        .checked_sub(1)
                        .and_then(|k| chars.get(k))
                        .is_some_and(|p| matches!(p, '<' | '&' | '/'));
                    let next = chars.get(j + 1);
                    if joins
                        && next.is_some_and(|n| n.is_alphanumeric() || matches!(n, '#' | '/' | '!'))
                    {
                        out.push(' ');
                    }
                }
                c => out.push(c),
            }
        }
        // A word that was only markers leaves no double space behind.
        if !word.is_empty() && out.len() == before {
            out.truncate(out.trim_end_matches([' ', '\t']).len());
            if out.is_empty() || out.ends_with('\n') {
                continue;
            }
        }
        // Nor more than one blank line.
        if !(space == "\n" && out.ends_with("\n\n")) {
            out.push_str(space);
        }
    }
    Cow::Owned(out)
}

/// WhatsApp's formatting markers.
const MARKERS: [char; 4] = ['*', '_', '~', '`'];

/// Whether a word of a text is a web or e-mail address (markers at its edges aside).
pub fn is_address(word: &str) -> bool {
    let word = word.trim_matches(MARKERS);
    word.contains("://") || word.starts_with("www.") || word.contains('@')
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
            '`' => '’',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
