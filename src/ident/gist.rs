//! A title's gist: the words of a title that tell its story, so that the same news under two
//! slightly different titles is recognised as one ("Interruzione dell’acqua in via Roma
//! martedì 2 dicembre" on the news feed, "Via Roma: interruzione acqua, martedì 2 dicembre"
//! on the press-release page).
//!
//! Punctuation, case, accents, word order, articles and prepositions do not count, and
//! words are compared by their first five letters, where Italian inflection changes the
//! ending (lavori/lavoro, chiuso/chiusura, interruzione/interruzioni). Hand-written rather
//! than a Snowball stemmer: two titles of one story need only agree on their stems, not on
//! linguistically right ones, and five letters do that for a tenth of the code. Numbers,
//! days and months are kept whole: "martedì 2 dicembre" and "mercoledì 3 dicembre" are two
//! stories.

use super::normalise_title;
use crate::dates::{DAYS_IT, MONTHS_IT};

/// Letters a word is compared by.
const STEM: usize = 5;
/// Without a date or number, a title names a story only with this many telling words: "Sportello
/// anagrafe chiuso per aggiornamento informatico" recurs week after week, with other dates
/// in its text.
const SPECIFIC: usize = 6;

/// Words that tell nothing: articles, prepositions (plain, articulated and elided) and
/// conjunctions. "non" tells a lot, and stays.
const EMPTY: &[&str] = &[
    "a", "ad", "agli", "ai", "al", "all", "alla", "alle", "allo", "col", "coi", "con", "d", "da",
    "dagli", "dai", "dal", "dall", "dalla", "dalle", "dallo", "degli", "dei", "del", "dell",
    "della", "delle", "dello", "di", "e", "ed", "fra", "gli", "i", "il", "in", "l", "la", "le",
    "lo", "negli", "nei", "nel", "nell", "nella", "nelle", "nello", "o", "od", "per", "su",
    "sugli", "sui", "sul", "sull", "sulla", "sulle", "sullo", "tra", "un", "una", "uno",
];

/// The gist of `title`: its telling words (stems, numbers, days and months) sorted, when
/// the title is specific enough to name a story on its own (a date or a number in it, or
/// six telling words); `None` otherwise.
pub fn gist(title: &str) -> Option<String> {
    let normalised = normalise_title(title);
    let mut dated = false;
    let mut words: Vec<String> = Vec::new();
    for word in normalised.split(' ').filter(|w| !w.is_empty()) {
        if EMPTY.contains(&word) {
            continue;
        }
        if word.chars().all(|c| c.is_ascii_digit()) {
            dated = true;
            let number = word.trim_start_matches('0');
            words.push(if number.is_empty() { "0" } else { number }.to_owned());
        } else if is_day_or_month(word) {
            dated = true;
            words.push(word.to_owned());
        } else {
            words.push(word.chars().take(STEM).collect());
        }
    }
    words.sort_unstable();
    words.dedup();
    (words.len() >= 3 && (dated || words.len() >= SPECIFIC)).then(|| words.join(" "))
}

fn is_day_or_month(word: &str) -> bool {
    DAYS_IT
        .iter()
        .chain(MONTHS_IT.iter())
        .any(|name| normalise_title(name) == word)
}

#[cfg(test)]
mod tests {
    use super::gist;

    #[test]
    fn one_story_under_slightly_different_titles() {
        let same = [
            [
                "Interruzione dell’acqua in via Roma martedì 2 dicembre",
                "Via Roma: interruzione acqua, martedì 02 dicembre",
            ],
            [
                "Lavori di asfaltatura in via Garibaldi dal 3 dicembre",
                "LAVORO DI ASFALTATURA IN VIA GARIBALDI – DAL 3 DICEMBRE",
            ],
            [
                "Chiusura del ponte sul Po per i lavori di consolidamento e la manutenzione",
                "Chiuso il ponte sul Po: lavori di consolidamento, manutenzione",
            ],
            [
                "Mercatino di Natale in piazza Duomo: sabato e domenica",
                "Il mercatino di Natale in Piazza del Duomo sabato e domenica",
            ],
        ];
        for [a, b] in same {
            assert!(gist(a).is_some(), "{a}");
            assert_eq!(gist(a), gist(b), "{a} / {b}");
        }
    }

    #[test]
    fn other_dates_numbers_and_words_are_other_stories() {
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
