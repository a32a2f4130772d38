//! A title's gist: the words of a title that tell its story, so that the same news under two
//! titles that differ only in form is recognised as one ("Interruzione dell’acqua in via
//! Roma martedì 2 dicembre" on the news feed, "INTERRUZIONE ACQUA IN VIA ROMA – MARTEDÌ 02
//! DICEMBRE" on the press-release page).
//!
//! Punctuation, case, accents, leading zeros, articles and the prepositions "di" and "in"
//! (plain, articulated and elided) do not count. Everything else does, in its order and
//! whole: "da Borgo a San Rocco" is not "da San Rocco a Borgo", "dal 9 al 12" is not "il 9 e
//! il 12", "mercato" is not "mercatino". Two notices wrongly taken for one lose a citizen a
//! notice; two forms of one notice missed cost a second message, the lesser harm.

use std::sync::LazyLock;

use super::normalise_title;
use crate::dates::{DAYS_IT, MONTHS_IT};

/// Without a date or number, a title names a story only with this many words: "Sportello
/// anagrafe chiuso per aggiornamento informatico" recurs week after week, with other dates
/// in its text.
const SPECIFIC: usize = 7;

/// Words that tell nothing: articles, and "di" and "in" in all their forms.
const EMPTY: &[&str] = &[
    "d", "dei", "degli", "del", "dell", "della", "delle", "dello", "di", "gli", "i", "il", "in",
    "l", "la", "le", "lo", "negli", "nei", "nel", "nell", "nella", "nelle", "nello", "un", "una",
    "uno",
];

/// The gist of `title`: its telling words in order, numbers without leading zeros, when the
/// title is specific enough to name a story on its own (a date or a number in it, or seven
/// words); `None` otherwise.
pub fn gist(title: &str) -> Option<String> {
    let normalised = normalise_title(title);
    let mut dated = false;
    let mut words: Vec<&str> = Vec::new();
    for word in normalised.split(' ').filter(|w| !w.is_empty()) {
        if EMPTY.contains(&word) {
            continue;
        }
        if word.chars().all(|c| c.is_ascii_digit()) {
            dated = true;
            let number = word.trim_start_matches('0');
            words.push(if number.is_empty() { "0" } else { number });
        } else {
            dated |= is_day_or_month(word);
            words.push(word);
        }
    }
    (words.len() >= 3 && (dated || words.len() >= SPECIFIC)).then(|| words.join(" "))
}

fn is_day_or_month(word: &str) -> bool {
    static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
        DAYS_IT
            .iter()
            .chain(MONTHS_IT.iter())
            .map(|name| normalise_title(name))
            .collect()
    });
    NAMES.iter().any(|name| name == word)
}

#[cfg(test)]
mod tests {
    use super::gist;

    #[test]
    fn one_story_under_titles_that_differ_in_form() {
        let same = [
            [
                "Interruzione dell’acqua in via Roma martedì 2 dicembre",
                "INTERRUZIONE DELL'ACQUA IN VIA ROMA – MARTEDÌ 02 DICEMBRE",
            ],
            [
                "Lavori di asfaltatura in via Garibaldi dal 3 dicembre",
                "Lavori asfaltatura via Garibaldi, dal 3 dicembre",
            ],
            [
                "Chiusura del ponte sul Po per i lavori di consolidamento e la manutenzione",
                "Chiusura ponte sul Po per lavori di consolidamento e manutenzione",
            ],
            [
                "Mercatino di Natale in piazza Duomo: sabato e domenica",
                "Il mercatino di Natale in Piazza Duomo, sabato e domenica",
            ],
        ];
        for [a, b] in same {
            assert!(gist(a).is_some(), "{a}");
            assert_eq!(gist(a), gist(b), "{a} / {b}");
        }
    }

    #[test]
    fn other_dates_numbers_words_and_orders_are_other_stories() {
        let other = [
            [
                "Interruzione dell’acqua in via Roma martedì 2 dicembre",
                "Interruzione dell’acqua in via Roma mercoledì 3 dicembre",
            ],
            [
                "Interruzione dell’acqua in via Roma 2 dicembre",
                "Interruzione dell’acqua in via Milano 2 dicembre",
            ],
            [
                "Il concerto di Natale si terrà sabato 20 dicembre",
                "Il concerto di Natale non si terrà sabato 20 dicembre",
            ],
            [
                "Concerto di Natale sabato 20 dicembre",
                "Concerto di Natale rinviato a sabato 20 dicembre",
            ],
            [
                "Chiusa via Roma, riaperta via Verdi da lunedì 7 dicembre",
                "Chiusa via Verdi, riaperta via Roma da lunedì 7 dicembre",
            ],
            [
                "Navetta gratuita da Borgo a San Rocco sabato 12 dicembre",
                "Navetta gratuita da San Rocco a Borgo sabato 12 dicembre",
            ],
            [
                "Via Roma chiusa dal 9 al 12 dicembre",
                "Via Roma chiusa il 9 e il 12 dicembre",
            ],
            [
                "Mercato sospeso domenica 13 dicembre",
                "Mercatino sospeso domenica 13 dicembre",
            ],
            [
                "Contributi impianti termici: scadenza 15 dicembre",
                "Controlli impianti termici: scadenza 15 dicembre",
            ],
        ];
        for [a, b] in other {
            assert_ne!(gist(a), gist(b), "{a} / {b}");
        }
    }

    #[test]
    fn a_general_title_names_no_story() {
        for title in [
            "Avviso",
            "Interruzione idrica",
            "Sportello anagrafe chiuso per aggiornamento informatico",
            "Chiusura del ponte sul Po per lavori",
        ] {
            assert_eq!(gist(title), None, "{title}");
        }
    }
}
