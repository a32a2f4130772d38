//! A decision's reason in Italian, for the admin UI. Reasons are written once, in English, where
//! they are decided (the command line and the logs show them as they are); this maps each
//! of them, by its fixed words, to what an editor reads. A reason not known here is shown as
//! it is (the test below keeps the list complete).

/// (English start, Italian, whether the rest of the reason — a pattern, a duration and a
/// date, a source and a title — follows the Italian words).
const STARTS: [(&str, &str, bool); 19] = [
    ("new item", "nuova notizia", false),
    ("material change at the source, waits for review:", "modifica importante alla fonte, rettifica in revisione:", true),
    ("material change at the source:", "modifica importante alla fonte, rettifica inviata:", true),
    ("waits for an editor's review", "in attesa di revisione", false),
    ("first poll", "prima lettura: registrata come già presente, non inviata", false),
    ("not tagged for forwarding", "senza l'etichetta per l'invio", false),
    ("matches no include pattern", "non corrisponde a nessun filtro di inclusione", false),
    ("matches exclude pattern", "corrisponde al filtro di esclusione", true),
    ("too many new items in one poll", "troppe notizie nuove in una lettura (max_new_per_poll): le più vecchie sono registrate, non inviate", false),
    ("older than max_age", "troppo vecchia: oltre max_age", true),
    ("part of a seismic sequence", "parte di una sequenza sismica, raccontata in un solo messaggio sulla scossa più forte", false),
    ("held: the source is HELD", "trattenuta: la fonte è bloccata, le nuove notizie si aggiungono a quelle trattenute", false),
    ("held:", "trattenuta per un amministratore: troppe notizie nuove in una volta (un cambio di sito?)", false),
    ("same story as", "stessa notizia già inviata da", true),
    ("cancels an alert that was not sent", "revoca un'allerta che non era stata inviata", false),
    ("below the source's min_severity", "sotto la gravità minima della fonte, e non aggiorna un'allerta inviata", false),
    ("the bulletin repeats the level already announced", "il bollettino ripete il livello già annunciato", false),
    ("the item has no link to an official page", "la notizia non ha un collegamento a una pagina ufficiale", false),
    ("the item has neither a title nor a text", "la notizia non ha né titolo né testo", false),
];

/// The reason in Italian.
pub fn italian(reason: &str) -> String {
    for (en, it, keep) in STARTS {
        if let Some(rest) = reason.strip_prefix(en) {
            let rest = rest.trim().replace("published ", "pubblicata ");
            return if keep && !rest.is_empty() {
                format!("{it} {rest}")
            } else {
                it.to_owned()
            };
        }
    }
    reason.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_in_italian() {
        let cases = [
            ("new item", "nuova notizia"),
            (
                "same story as notizie: «Ponte chiuso»",
                "stessa notizia già inviata da notizie: «Ponte chiuso»",
            ),
            (
                "older than max_age (3days): published martedì 25 novembre 2025",
                "troppo vecchia: oltre max_age (3days): pubblicata martedì 25 novembre 2025",
            ),
        ];
        for (en, it) in cases {
            assert_eq!(italian(en), it);
        }
        for (en, _, _) in STARTS {
            assert_ne!(italian(en), en, "{en}");
        }
    }
}
