//! The configuration check's problems (`config::Problem`, written in English for the command
//! line and the log) in Italian, for the admin UI when a save is refused. Pure. Messages this
//! table does not know are shown by their line only, with a pointer to `banditore check`;
//! the English stays in the server's log.

use std::sync::LazyLock;

use regex::Regex;

use crate::config::Problem;

/// One problem in Italian: "riga 12, fonte «notizie»: every «spesso» non è un intervallo …".
pub fn italian(problem: &Problem) -> String {
    let (table, message) = split_table(&problem.message);
    let mut out = String::new();
    if let Some(line) = problem.line {
        out.push_str(&format!("riga {line}"));
    }
    if let Some(table) = table {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(&table);
    }
    if !out.is_empty() {
        out.push_str(": ");
    }
    match words(message) {
        Some(words) => out.push_str(&words),
        None => {
            tracing::warn!(problem = %problem, "a configuration problem shown in the admin UI without its words");
            out.push_str(
                "valore non accettato (il dettaglio è nel registro del server; «banditore check» lo mostra)",
            );
        }
    }
    out
}

/// Every problem, one after the other.
pub fn all(problems: &[Problem]) -> String {
    problems.iter().map(italian).collect::<Vec<_>>().join("; ")
}

/// `source "notizie": …` → (`fonte «notizie»`, `…`).
fn split_table(message: &str) -> (Option<String>, &str) {
    static TABLE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"^(?:(source|sink|user) "([^"]*)"|\[\[(source|sink|user)\]\] #(\d+)|\[settings\]): "#,
        )
        .expect("static regex")
    });
    let Some(c) = TABLE.captures(message) else {
        return (None, message);
    };
    let kind = |k: &str| match k {
        "source" => "fonte",
        "sink" => "canale",
        _ => "persona",
    };
    let table = match (c.get(1), c.get(2), c.get(3), c.get(4)) {
        (Some(k), Some(name), _, _) => format!("{} «{}»", kind(k.as_str()), name.as_str()),
        (_, _, Some(k), Some(n)) => format!("{} n. {}", kind(k.as_str()), n.as_str()),
        _ => "impostazioni".to_owned(),
    };
    let rest = message
        .get(c.get(0).map_or(0, |m| m.end())..)
        .unwrap_or_default();
    (Some(table), rest)
}

/// The known messages, each with its Italian; `$k` is the key, `$v` the value, `$a`/`$b` more.
static WORDS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r#"^(?P<k>\w+) must be between (?P<a>.+) and (?P<b>.+)$"#, "$k deve essere fra $a e $b"),
        (r#"^(?P<k>\w+) "(?P<v>.*)" is not a duration$"#, "$k «$v» non è un intervallo: scrivi per esempio 5m, 15m o 1h"),
        (r#"^(?P<k>\w+) "(?P<v>.*)": the "(?P<a>.*)" scheme is not fetched$"#, "$k «$v»: si leggono solo indirizzi http:// o https://"),
        (r#"^(?P<k>\w+) "(?P<v>.*)" is not a valid address"#, "$k «$v» non è un indirizzo valido"),
        (r#"^needs (?P<k>\w+)$"#, "manca $k"),
        (r#"^(?P<k>\w+) must be at least (?P<a>\d+)$"#, "$k deve essere almeno $a"),
        (r#"^(?P<k>\w+) must name an environment variable, not hold a secret$"#, "$k deve essere il nome di una variabile d'ambiente, non il segreto"),
        (r#"follows the same address as source "(?P<v>[^"]*)""#, "segue lo stesso indirizzo della fonte «$v»: le sue notizie sarebbero inviate due volte"),
        (r#"name "(?P<v>[^"]*)" is not valid$"#, "il nome «$v» non è valido"),
        (r#"name "(?P<v>[^"]*)" is used twice$"#, "il nome «$v» è usato due volte"),
        (r#"name "(?P<v>[^"]*)" is empty or used twice$"#, "il nome «$v» è vuoto o usato due volte"),
        (r#"^cron "(?P<v>.*)" is not valid"#, "cron «$v» non è un'espressione valida"),
        (r#"^(?P<k>\w+) pattern "(?P<v>.*)" is not a valid regular expression$"#, "$k: «$v» non è un'espressione regolare valida"),
        (r#"^max_chars (?P<v>\S+) is out of range$"#, "max_chars $v è fuori dai limiti"),
        (r#"^(?P<k>\w+) applies to kind (?P<a>.+) only$"#, "$k vale solo per le fonti di tipo $a"),
        (r#"^(?P<k>\w+) does not apply to a (?P<a>\S+) sink$"#, "$k non si usa con un canale $a"),
        (r#"^geocode "(?P<v>.*)" has no name$"#, "il codice d'area «$v» non ha il nome (scrivi NOME:VALORE)"),
        (r#"^timezone "(?P<v>.*)" is not a timezone$"#, "«$v» non è un fuso orario"),
        (r#"^trusted_proxies: "(?P<v>.*)" is neither"#, "trusted_proxies: «$v» non è né un indirizzo IP né una rete"),
        (r#"^(?P<k>\w+) is not a key this table takes$"#, "$k non è una chiave di questa tabella"),
        (r#"^(?P<k>\w+) cannot be "(?P<v>.*)": it must be one of (?P<a>.*)$"#, "$k non può essere «$v»: deve essere uno fra $a"),
        (r#"^(?P<k>\w+) needs (?P<a>\w+) too$"#, "$k richiede anche $a"),
        (r#"^(?P<k>\w+) must be a whole number"#, "$k deve essere un numero intero, senza virgolette"),
        (r#"^(?P<k>\w+) must be a number"#, "$k deve essere un numero, senza virgolette"),
        (r#"^(?P<k>\w+) must be true or false"#, "$k deve essere true o false, senza virgolette"),
        (r#"^(?P<k>\w+) must be text in double quotes$"#, "$k deve essere un testo fra virgolette"),
        (r#"^(?P<k>\w+) must be a list"#, "$k deve essere un elenco, per esempio [\"a\", \"b\"]"),
        (r#"^(?P<k>\w+) must be a table"#, "$k deve essere una tabella"),
        (r#"^(?P<k>\w+) must be a point on the map$"#, "$k deve essere un punto sulla mappa (lat, lon)"),
        (r#"^an earthquake source needs settings\.location$"#, "una fonte di terremoti misura la distanza dal comune: serve la sua posizione, location = { lat = …, lon = … } in [settings] del file di configurazione (chiedila a chi gestisce il server)"),
        (r#"^not valid TOML"#, "il file non è TOML valido"),
        (r#"^no \[\[sink\]\]"#, "nessun [[sink]]: i messaggi non avrebbero dove andare"),
        (r#"^(?P<k>\S+) is not a part of the configuration$"#, "$k non fa parte della configurazione"),
        (r#"^write \[settings\]"#, "scrivi [settings] (una tabella sola), non [[settings]]"),
        (r#"^write \[\[(?P<k>\w+)\]\]"#, "scrivi [[$k]] (una per elemento), non [$k]"),
    ]
    .into_iter()
    .map(|(re, it)| (Regex::new(re).expect("static regex"), it))
    .collect()
});

fn words(message: &str) -> Option<String> {
    WORDS.iter().find_map(|(re, it)| {
        re.captures(message).map(|c| {
            let mut out = String::new();
            c.expand(it, &mut out);
            out
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(line: Option<usize>, message: &str) -> Problem {
        Problem {
            line,
            message: message.into(),
            hint: Some("an English hint".into()),
        }
    }

    #[test]
    fn problems_read_in_italian() {
        let cases = [
            (
                problem(Some(12), r#"source "notizie": every "spesso" is not a duration"#),
                "riga 12, fonte «notizie»: every «spesso» non è un intervallo: scrivi per esempio 5m, 15m o 1h",
            ),
            (
                problem(Some(3), r#"source "b" follows the same address as source "a": its items would be sent twice"#),
                "riga 3: segue lo stesso indirizzo della fonte «a»: le sue notizie sarebbero inviate due volte",
            ),
            (
                problem(Some(7), r#"[[source]] #2: needs url"#),
                "riga 7, fonte n. 2: manca url",
            ),
            (
                problem(Some(1), r#"[settings]: max_items_per_poll must be at least 1"#),
                "riga 1, impostazioni: max_items_per_poll deve essere almeno 1",
            ),
            (
                problem(Some(9), r#"user "anna": role cannot be "capo": it must be one of admin, editor"#),
                "riga 9, persona «anna»: role non può essere «capo»: deve essere uno fra admin, editor",
            ),
            (
                problem(Some(22), r#"source "terremoti": an earthquake source needs settings.location"#),
                "riga 22, fonte «terremoti»: una fonte di terremoti misura la distanza dal comune: serve la sua posizione, location = { lat = …, lon = … } in [settings] del file di configurazione (chiedila a chi gestisce il server)",
            ),
            (
                problem(None, "no [[sink]]: messages would have nowhere to go"),
                "nessun [[sink]]: i messaggi non avrebbero dove andare",
            ),
        ];
        for (p, it) in cases {
            assert_eq!(italian(&p), it, "{}", p.message);
        }
    }

    #[test]
    fn an_unknown_message_shows_no_english() {
        let it = italian(&problem(
            Some(4),
            r#"sink "wa": something entirely new went wrong"#,
        ));
        assert_eq!(
            it,
            "riga 4, canale «wa»: valore non accettato (il dettaglio è nel registro del server; «banditore check» lo mostra)"
        );
    }
}
