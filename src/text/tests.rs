use super::*;

#[test]
fn boilerplate_is_removed() {
    let cases = [
        ("Il mercato si sposta. Leggi tutto »", "Il mercato si sposta."),
        ("Il mercato si sposta [&hellip;]", "Il mercato si sposta…"),
        ("Il mercato si sposta [...]", "Il mercato si sposta…"),
        (
            "Il mercato si sposta. L'articolo Mercato proviene da Comune di Esempio.",
            "Il mercato si sposta.",
        ),
        (
            "Il mercato si sposta. The post Mercato appeared first on Comune.",
            "Il mercato si sposta.",
        ),
        (
            "Il mercato si sposta. Condividi: Facebook Twitter WhatsApp",
            "Il mercato si sposta.",
        ),
        (
            "Data di pubblicazione: 12/03/2025 Il mercato si sposta.",
            "Il mercato si sposta.",
        ),
        (
            "Il mercato si sposta. Questo sito utilizza cookie tecnici, accetta per continuare.",
            "Il mercato si sposta.",
        ),
        (
            "Il biscotto della fortuna si chiama cookie in inglese.",
            "Il biscotto della fortuna si chiama cookie in inglese.",
        ),
        ("Continua a leggere", ""),
        (
            "Il mercato. Condividi\n• Facebook\n• Twitter\n• Google+\n• Linkedin Vedi azioni\n• Scarica\n• Stampa\n• Ascolta\n• Invia",
            "Il mercato.",
        ),
        ("Orari 9-19. [&hellip;]", "Orari 9-19…"),
        (
            "Elenchi pubblicati. Argomenti Cultura Istruzione Data: 29 agosto 2019 Ulteriori informazioni Scaricabili sul portale.",
            "Elenchi pubblicati. Scaricabili sul portale.",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(strip_boilerplate(input), expected, "{input}");
    }
}

#[test]
fn lists_become_bullet_lines() {
    let html = "<p>Orari:</p><ul><li>lunedì 9-12</li><li>martedì chiuso</li></ul>";
    assert_eq!(
        html_to_text(html),
        "Orari:\n• lunedì 9-12\n• martedì chiuso"
    );
    let after = "<ul><li>uno</li><li>due</li></ul><p>Dopo la lista.</p>";
    assert_eq!(html_to_text(after), "• uno\n• due\nDopo la lista.");
}

#[test]
fn source_markers_never_format() {
    let cases = [
        ("Chiamate il ~0372 407~ oggi", "Chiamate il ∼0372 407∼ oggi"),
        ("*Importante*: acqua", "∗Importante∗: acqua"),
        ("_avviso_ per mario_rossi", "avviso per mario_rossi"),
        (
            "vedi https://x.it/a_info_b e mario_rossi@comune.it",
            "vedi https://x.it/a_info_b e mario_rossi@comune.it",
        ),
        ("codice `ABC`", "codice ’ABC’"),
    ];
    for (input, expected) in cases {
        assert_eq!(neutralise_text_markers(input), expected, "{input}");
    }
}

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
    // Noncharacters XML forbids, and an unclosed right-to-left override.
    assert_eq!(
        collapse_whitespace("fine \u{fffe}\u{ffff}\u{fdd0}ok \u{202e}lien\u{2066}"),
        "fine ok lien"
    );
    // Right-to-left text itself stays.
    assert_eq!(collapse_whitespace("شارع روما"), "شارع روما");
    // What they separated is seen joined, markup included.
    assert_eq!(plain_to_text("vedi <\u{202e}a>qui</a>"), "vedi qui");
    assert_eq!(
        html_to_text("vedi &lt;\u{fffe}b&gt;qui&lt;/b&gt;"),
        "vedi qui"
    );
}

#[test]
fn truncates_at_sentence_then_word() {
    let text = "Prima frase completa qui. Seconda frase che continua a lungo senza fermarsi mai";
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

#[test]
fn a_heading_does_not_run_into_the_text_after_it() {
    let cases = [
        (
            "<h3>Orari</h3><p>Dal lunedì al venerdì, 9-12.</p>",
            "Orari. Dal lunedì al venerdì, 9-12.",
        ),
        (
            "<h2><strong>Attenzione!</strong></h2><p>Strada chiusa.</p>",
            "Attenzione! Strada chiusa.",
        ),
        ("<h4>Dove:</h4><p>Piazza Duomo</p>", "Dove: Piazza Duomo."),
        (
            "<H2 class=\"t\">Documenti </H2>\n<p>Il bando.</p>",
            "Documenti. Il bando.",
        ),
        ("<p>Senza titoli.</p>", "Senza titoli."),
        (
            "<p>Nuovi orari della biblioteca</p><p>Dal lunedì al venerdì</p>",
            "Nuovi orari della biblioteca. Dal lunedì al venerdì.",
        ),
        (
            "<p><strong>Orari di apertura</strong><br>Dal lunedì al venerdì, 9-12<br/>Sabato chiuso.</p>",
            "Orari di apertura. Dal lunedì al venerdì, 9-12. Sabato chiuso.",
        ),
    ];
    for (html, expected) in cases {
        assert_eq!(html_to_text(html), expected, "{html}");
    }
}
