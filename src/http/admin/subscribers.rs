//! "Iscritti": how many citizens subscribed, how, and what they chose (per topic and zone);
//! never a number.

use std::collections::BTreeMap;

use maud::html;

use super::views::{page, plural};
use super::User;
use crate::daemon::App;
use crate::store::StoreError;

pub fn subscribers(user: &User, app: &App) -> Result<String, StoreError> {
    let store = app.store();
    let audience = &app.config().audience;
    let (mut total, mut window, mut imported) = (0, 0, 0);
    let (mut topics, mut zones) = (
        BTreeMap::<&str, usize>::new(),
        BTreeMap::<&str, usize>::new(),
    );
    let mut everything = 0;
    let now = app.now();
    for row in store.subscribers() {
        let (_, s) = row?;
        total += 1;
        if s.last_inbound_at
            .is_some_and(|t| now - t < chrono::Duration::hours(24))
        {
            window += 1;
        }
        if s.consent_message_id.is_none() {
            imported += 1;
        }
        if s.selection.topics.is_empty() && s.selection.stopped.is_empty() {
            everything += 1;
        }
        for t in &audience.topics {
            if crate::audience::receives_topic(&s.selection, t, audience) {
                *topics.entry(t.label.as_str()).or_default() += 1;
            }
        }
        for z in &audience.zones {
            if s.selection.zones.contains(&z.name) {
                *zones.entry(z.label.as_str()).or_default() += 1;
            }
        }
    }
    let body = html! {
        div.card {
            p { strong { (plural(total, "iscritto", "iscritti")) } " con consenso registrato." }
            p { (plural(total - imported, "iscritto", "iscritti")) " scrivendo al numero WhatsApp del Comune; " (plural(imported, "importato", "importati")) " con il consenso raccolto altrove." }
            p { (plural(window, "ha scritto", "hanno scritto")) " nelle ultime 24 ore (ricevono messaggi liberi; gli altri il modello approvato)." }
            p.meta { "I numeri non sono mostrati qui: per gestirli usa " code { "banditore subscribers" } " sul server." }
        }
        @if !audience.topics.is_empty() {
            h2 { "Argomenti" }
            div.card {
                p { (plural(everything, "iscritto riceve", "iscritti ricevono")) " ciò che il Comune invia a tutti (non ha scelto né fermato argomenti). Le allerte urgenti arrivano a tutti, tranne a chi ha scritto STOP per il loro argomento." }
                table {
                    thead { tr { th { "Argomento" } th { "Lo ricevono" } } }
                    tbody {
                        @for t in &audience.topics {
                            tr { td { (t.label) } td { (topics.get(t.label.as_str()).copied().unwrap_or(0)) } }
                        }
                    }
                }
            }
        }
        @if !audience.zones.is_empty() {
            h2 { "Zone" }
            div.card {
                p { "Chi ha scelto una zona riceve le notizie di quella zona e quelle che non ne nominano nessuna." }
                table {
                    thead { tr { th { "Zona" } th { "Iscritti" } } }
                    tbody {
                        @for z in &audience.zones {
                            tr { td { (z.label) } td { (zones.get(z.label.as_str()).copied().unwrap_or(0)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Iscritti", Some(user), "/subscribers", body))
}
