//! A message as WhatsApp shows it: `*bold*`, `_italic_`, `~strikethrough~`; everything else is
//! text, escaped by maud (the admin UI and the citizens' page). `admin/app.js` (the live preview while an editor types) follows the same
//! rules, step by step; `tests::the_live_preview_agrees` runs it on the same texts.
//!
//! WhatsApp's rules, as followed here:
//! - a marker opens only at the start of the text or after a character that is neither a letter
//!   nor a digit (a space, punctuation), and not right before a space;
//! - it closes at the first same marker on the same line that follows a non-space and comes
//!   before the end, a space or punctuation (not a letter or a digit); the content is never
//!   empty;
//! - a marker inside a web address (`https://…`, `www.…`) is part of the address;
//! - a marker that finds no closing is plain text, and the scan goes on right after it, so a
//!   refused marker never hides a later pair.

use maud::{html, Markup};

pub use crate::format::styles::{plain, spans, Style};

/// The bubble's HTML.
pub fn bubble(text: &str) -> Markup {
    html! {
        @for (part, style) in spans(text) {
            @match style {
                Some(Style::Bold) => strong { (part) },
                Some(Style::Italic) => em { (part) },
                Some(Style::Strike) => s { (part) },
                None => (part),
            }
        }
    }
}

pub use crate::format::html::with_links as bubble_with_links;

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts and how WhatsApp shows them (`<b>`, `<i>`, `<s>` for the styles).
    const CASES: &[(&str, &str)] = &[
        ("*Chiusura* scuole", "<b>Chiusura</b> scuole"),
        ("_oggi_ e ~ieri~", "<i>oggi</i> e <s>ieri</s>"),
        (
            "3*4*5 e * non * e file_di_nome",
            "3*4*5 e * non * e file_di_nome",
        ),
        // A refused candidate does not swallow the valid pair after it.
        ("a_b _ok_", "a_b <i>ok</i>"),
        ("x_ _y_ z", "x_ <i>y</i> z"),
        ("* no* *sì*", "* no* <b>sì</b>"),
        // Never inside an address.
        ("https://x.it/a_info_b", "https://x.it/a_info_b"),
        (
            "vedi https://x.it/_info_/pagina e _qui_",
            "vedi https://x.it/_info_/pagina e <i>qui</i>",
        ),
        ("www.x.it/*a*", "www.x.it/*a*"),
        // Punctuation around the markers, not letters.
        ("(*urgente*).", "(<b>urgente</b>)."),
        ("*Avviso*:", "<b>Avviso</b>:"),
        ("ab*c* d", "ab*c* d"),
        ("*c*d", "*c*d"),
        // Not across lines, not with spaces just inside.
        ("*a\nb*", "*a\nb*"),
        ("_ a_ _b _", "_ a_ _b _"),
        ("**", "**"),
        ("*è* ~città~", "<b>è</b> <s>città</s>"),
    ];

    fn tagged(text: &str) -> String {
        spans(text)
            .into_iter()
            .map(|(part, style)| match style {
                Some(Style::Bold) => format!("<b>{part}</b>"),
                Some(Style::Italic) => format!("<i>{part}</i>"),
                Some(Style::Strike) => format!("<s>{part}</s>"),
                None => part.to_owned(),
            })
            .collect()
    }

    #[test]
    fn addresses_become_links_and_markers_go_in_plain_text() {
        let text = "*Notizie* della notte:\nhttps://a.example/x_y_ (vedi https://b.example/z).";
        let html = bubble_with_links(text).into_string();
        assert!(
            html.contains("<a href=\"https://a.example/x_y_\">https://a.example/x_y_</a>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://b.example/z\">https://b.example/z</a>)."),
            "{html}"
        );
        assert!(html.starts_with("<strong>Notizie</strong>"), "{html}");
        assert_eq!(
            plain(text),
            "Notizie della notte:\nhttps://a.example/x_y_ (vedi https://b.example/z)."
        );
        // An address with a quote cannot leave its attribute.
        let html = bubble_with_links("https://a.example/\"onmouseover=x").into_string();
        assert!(
            html.contains("href=\"https://a.example/&quot;onmouseover=x\""),
            "{html}"
        );
    }

    #[test]
    fn styles_follow_whatsapps_rules() {
        for (text, shown) in CASES {
            assert_eq!(tagged(text), *shown, "{text:?}");
        }
    }

    #[test]
    fn the_rest_is_escaped() {
        assert_eq!(
            bubble("*<b>x</b>* & <i>").into_string(),
            "<strong>&lt;b&gt;x&lt;/b&gt;</strong> &amp; &lt;i&gt;"
        );
    }

    /// app.js, run by node on the same texts, shows them the same way. Skipped (with a note)
    /// where node is not installed.
    #[test]
    fn the_live_preview_agrees() {
        let script = format!(
            "var document = {{ querySelectorAll: function () {{ return []; }} }};\n{}\n\
             var cases = JSON.parse(process.argv[1]);\n\
             var tags = {{ strong: 'b', em: 'i', s: 's' }};\n\
             console.log(JSON.stringify(cases.map(function (t) {{\n\
               return spans(t).map(function (p) {{ return p[1] ? '<' + tags[p[1]] + '>' + p[0] + '</' + tags[p[1]] + '>' : p[0]; }}).join('');\n\
             }})));",
            include_str!("admin/app.js")
        );
        let texts: Vec<&str> = CASES.iter().map(|(t, _)| *t).collect();
        let run = std::process::Command::new("node")
            .arg("-e")
            .arg(&script)
            .arg(serde_json::to_string(&texts).unwrap())
            .output();
        let out = match run {
            Ok(out) => out,
            Err(e) => {
                eprintln!("node not available ({e}): app.js not checked");
                return;
            }
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        for ((text, want), got) in CASES.iter().zip(&shown) {
            assert_eq!(got, want, "app.js on {text:?}");
        }
    }
}
