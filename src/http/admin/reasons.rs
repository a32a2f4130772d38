//! Why a delivery failed, in plain Italian: WhatsApp Cloud API error codes, HTTP statuses,
//! and what became of the message. Pure; the tests below are the whole vocabulary.
//!
//! Codes after `shared/reference/whatsapp-cloud-api/NOTES.md` (Meta's error table as quoted
//! there); 131049 after Meta's error-codes page ("not delivered to maintain healthy
//! ecosystem engagement"). A code not listed shows as "codice N".

use crate::sink::SinkError;
use crate::store::{FailureOutcome, SinkFailure};

/// What a WhatsApp Cloud API error code means, for a person ("… (codice N)").
pub fn cloud_code(code: i64) -> String {
    let meaning = match code {
        131026 => {
            "il numero non può ricevere il messaggio (non usa WhatsApp, ha un'app troppo vecchia o non ha accettato i termini)"
        }
        131047 => {
            "sono passate più di 24 ore dall'ultimo messaggio del cittadino: si può inviare solo un modello approvato"
        }
        131049 => {
            "WhatsApp non l'ha consegnato per non mandare troppi messaggi di aziende allo stesso cittadino"
        }
        130429 => "il numero del Comune ha superato i messaggi al secondo consentiti: gli invii rallentano",
        131056 => "troppi messaggi allo stesso numero in poco tempo: verrà riprovato più tardi",
        80007 => "l'account WhatsApp Business ha superato il limite di richieste",
        4 => "l'app ha superato il limite di richieste",
        131048 => {
            "limite anti-spam: per la qualità dei messaggi WhatsApp limita gli invii del Comune"
        }
        368 => "l'account è bloccato temporaneamente per violazione delle regole di WhatsApp",
        190 => "il token di accesso è scaduto o non è valido: va rinnovato",
        131053 => "l'immagine non si è potuta caricare (indirizzo irraggiungibile o formato non supportato)",
        132018 => "i parametri del modello di messaggio non sono validi",
        1 | 2 | 131000 => "errore temporaneo di WhatsApp",
        _ => return format!("codice {code}"),
    };
    format!("{meaning} (codice {code})")
}

/// An HTTP status with its meaning ("HTTP 500 (errore interno del server)").
pub fn http_status(status: u16) -> String {
    let meaning = match status {
        400 => "richiesta non valida",
        401 => "credenziali mancanti o errate",
        403 => "accesso negato",
        404 => "indirizzo non trovato",
        408 => "tempo scaduto",
        409 => "conflitto",
        410 => "indirizzo non più disponibile",
        413 => "messaggio troppo grande",
        422 => "richiesta non elaborabile (per un gateway: la sessione WhatsApp non è attiva)",
        425 | 429 => "troppe richieste",
        500 => "errore interno del server",
        502 => "risposta non valida da un server intermedio",
        503 => "servizio non disponibile",
        504 => "tempo scaduto su un server intermedio",
        s if (400..500).contains(&s) => "richiesta rifiutata",
        s if (500..600).contains(&s) => "errore del server",
        _ => return format!("HTTP {status}"),
    };
    format!("HTTP {status} ({meaning})")
}

/// A failure in one sentence: the provider's code, else the HTTP status, else what became
/// of the message.
pub fn describe(failure: &SinkFailure) -> String {
    if let Some(code) = failure.code {
        return cloud_code(code);
    }
    if let Some(status) = failure.http_status {
        return format!("il servizio ha risposto {}", http_status(status));
    }
    match failure.outcome {
        FailureOutcome::Retry => "il servizio non era raggiungibile".to_owned(),
        FailureOutcome::Failed => "l'invio è stato rifiutato".to_owned(),
        FailureOutcome::Unknown => {
            "l'invio si è interrotto senza una risposta certa: non si sa se il messaggio sia arrivato".to_owned()
        }
        FailureOutcome::Paused => "l'account non può inviare: il canale è in pausa".to_owned(),
    }
}

/// A sink's refusal of one send (a test send): the HTTP status with its meaning when the
/// provider answered, else what became of the message and the system's words.
pub fn sink_error(error: &SinkError) -> String {
    let why = error.why();
    if let Some(status) = why.http_status {
        return format!("il servizio ha risposto {}", http_status(status));
    }
    let what = match error {
        SinkError::NotSent(_) => "il messaggio non è partito",
        SinkError::MaybeSent(_) => {
            "l'invio si è interrotto senza una risposta certa: controlla prima di riprovare"
        }
        SinkError::Rejected(_) => "l'invio è stato rifiutato",
        SinkError::Paused(_) => {
            "l'account non può inviare (credenziali revocate o canale non più accessibile)"
        }
    };
    match why.detail.trim() {
        "" => what.to_owned(),
        detail => format!("{what} (dettagli tecnici: {detail})"),
    }
}

/// "1 messaggio inviato", "2 messaggi inviati": a count with its noun and adjective agreed.
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_codes_in_italian() {
        for (code, words) in [
            (131026, "non può ricevere"),
            (131047, "24 ore"),
            (131049, "non l'ha consegnato"),
            (130429, "al secondo"),
            (131056, "stesso numero"),
            (190, "token di accesso"),
            (131048, "anti-spam"),
            (368, "bloccato"),
        ] {
            let text = cloud_code(code);
            assert!(text.contains(words), "{code}: {text}");
            assert!(text.ends_with(&format!("(codice {code})")), "{text}");
        }
        assert_eq!(cloud_code(999_999), "codice 999999");
        assert_eq!(cloud_code(-1), "codice -1");
    }

    #[test]
    fn a_sinks_refusal_in_italian() {
        use crate::sink::Why;
        let status = reqwest::StatusCode::INTERNAL_SERVER_ERROR;
        let answered =
            SinkError::NotSent(Why::http(status, "HTTP 500 Internal Server Error".into()));
        assert_eq!(
            sink_error(&answered),
            "il servizio ha risposto HTTP 500 (errore interno del server)"
        );
        let file = SinkError::NotSent(Why::from("Permission denied (os error 13)"));
        assert_eq!(
            sink_error(&file),
            "il messaggio non è partito (dettagli tecnici: Permission denied (os error 13))"
        );
        assert!(!sink_error(&answered).contains("not sent"));
    }

    #[test]
    fn http_statuses_in_italian() {
        assert_eq!(http_status(500), "HTTP 500 (errore interno del server)");
        assert_eq!(http_status(503), "HTTP 503 (servizio non disponibile)");
        assert_eq!(http_status(418), "HTTP 418 (richiesta rifiutata)");
        assert_eq!(http_status(599), "HTTP 599 (errore del server)");
        assert_eq!(http_status(302), "HTTP 302");
    }

    #[test]
    fn a_failure_in_one_sentence() {
        let failure = |outcome, http_status, code| SinkFailure {
            at: chrono::DateTime::UNIX_EPOCH,
            outcome,
            message_id: None,
            http_status,
            code,
            detail: "x".into(),
        };
        assert_eq!(
            describe(&failure(FailureOutcome::Retry, Some(500), None)),
            "il servizio ha risposto HTTP 500 (errore interno del server)"
        );
        // The provider's code says more than the status.
        assert!(
            describe(&failure(FailureOutcome::Failed, Some(400), Some(131026)))
                .ends_with("(codice 131026)")
        );
        assert!(describe(&failure(FailureOutcome::Unknown, None, None))
            .contains("non si sa se il messaggio sia arrivato"));
        assert_eq!(
            describe(&failure(FailureOutcome::Retry, None, None)),
            "il servizio non era raggiungibile"
        );
    }

    #[test]
    fn plurals() {
        assert_eq!(count(1, "messaggio", "messaggi"), "1 messaggio");
        assert_eq!(count(2, "messaggio", "messaggi"), "2 messaggi");
        assert_eq!(count(0, "messaggio", "messaggi"), "0 messaggi");
    }
}
