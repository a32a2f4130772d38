//! A message in HTML: its styles (`format::styles`) as `<strong>`, `<em>`, `<s>`, its
//! addresses as links, everything else escaped by maud. Pure.

use maud::{html, Markup};

use crate::format::styles::{spans, Style};

/// A message's text as WhatsApp shows it (`http::bubble`), with every `http(s)://` address a
/// link: the citizens' archive (a digest lists several articles) and e-mail.
pub fn with_links(text: &str) -> Markup {
    static WEB: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)https?://\S+").expect("static regex"));
    let linked = |part: &str| {
        let mut pieces = Vec::new();
        let mut rest = 0;
        for m in WEB.find_iter(part) {
            // A sentence's full stop or a closing bracket after an address is not part of it.
            let url = m
                .as_str()
                .trim_end_matches(['.', ',', ';', ':', ')', '»', '!', '?']);
            pieces.push((&part[rest..m.start()], false));
            pieces.push((url, true));
            rest = m.start() + url.len();
        }
        pieces.push((&part[rest..], false));
        html! {
            @for (piece, link) in pieces {
                @if link { a href=(piece) { (piece) } } @else { (piece) }
            }
        }
    };
    html! {
        @for (part, style) in spans(text) {
            @match style {
                Some(Style::Bold) => strong { (linked(part)) },
                Some(Style::Italic) => em { (linked(part)) },
                Some(Style::Strike) => s { (linked(part)) },
                None => (linked(part)),
            }
        }
    }
}
