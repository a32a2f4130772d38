//! The words a citizen's message means something by, as `http::inbound` reads them (upper
//! case, accents aside): here, below both, so that the check of `[[topic]]` and `[[zone]]`
//! keeps a topic's words apart from them.

/// Words that subscribe, and words that unsubscribe (compared without case or accents).
pub const SUBSCRIBE: &[&str] = &[
    "ISCRIVIMI",
    "ISCRIZIONE",
    "ISCRIVI",
    "START",
    "ATTIVA",
    "INIZIA",
];

pub const UNSUBSCRIBE: &[&str] = &[
    "STOP",
    "CANCELLAMI",
    "CANCELLATEMI",
    "DISISCRIVIMI",
    "DISISCRIVETEMI",
    "RIMUOVIMI",
    "RIMUOVETEMI",
    "BASTA",
    "ANNULLA",
    "UNSUBSCRIBE",
    "DISATTIVA",
];

/// Words a keyword may come with ("stop per favore", "iscrivimi grazie").
pub const COURTESY: &[&str] = &[
    "PER",
    "FAVORE",
    "PERFAVORE",
    "GRAZIE",
    "MILLE",
    "PREGO",
    "PLEASE",
    "THANKS",
    "THANK",
    "YOU",
    "CIAO",
    "SALVE",
    "BUONGIORNO",
    "BUONASERA",
];

/// Words that confirm a sign-up made on the citizens' page ("Sì", "si grazie", "confermo";
/// not a bare "ok", which answers anything).
pub const CONFIRM: &[&str] = &["SI", "CONFERMO"];

/// Words that ask for the list of topics and zones.
pub const LIST: &[&str] = &["ARGOMENTI", "TEMI", "MENU", "OPZIONI"];

/// Words that, after a topic, choose it or stop it ("ALLERTE ON"), and everything.
pub const SWITCHES: &[&str] = &["ON", "OFF", "TUTTO"];
