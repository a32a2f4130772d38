//! The pages, in Italian. maud escapes every interpolated value.

use maud::{html, Markup, DOCTYPE};

use super::User;
use crate::config::Role;
use crate::daemon::App;
use crate::format::MAX_TEXT;
use crate::http::bubble::bubble;
use crate::store::{Flash, QueueItem, StoreError};

pub(super) fn when(t: chrono::DateTime<chrono::Utc>, app: &App) -> String {
    t.with_timezone(&app.config().settings.tz())
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

pub fn page(title: &str, user: Option<&User>, current: &str, body: Markup) -> String {
    let link = |href: &str, label: &str| {
        html! { a href=(href) aria-current=[(href == current).then_some("page")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="it" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · banditore" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                header {
                    a.brand href="/" { "banditore" }
                    @if let Some(user) = user {
                        nav aria-label="Menu principale" {
                            (link("/", "Da approvare"))
                            (link("/log", "Inviati"))
                            (link("/consegne", "Consegne"))
                            @if user.role == Role::Admin {
                                (link("/sources", "Fonti"))
                                (link("/subscribers", "Iscritti"))
                                (link("/utenti", "Persone"))
                            }
                            (link("/password", "Password"))
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(user.csrf());
                                button type="submit" { "Esci (" (user.name) ")" }
                            }
                        }
                    }
                }
                main { h1 { (title) } (body) }
                script src="/static/app.js" {}
            }
        }
    }
    .into_string()
}

pub(super) fn flash_box(flash: Option<Flash>) -> Markup {
    html! {
        @if let Some(Flash { ok, text, link }) = flash {
            @if !text.is_empty() {
                div.flash.errore[!ok] role="status" {
                    (text)
                    @if let Some(link) = link { " " a href=(link.href) { (link.label) } }
                }
            }
        }
    }
}

pub fn message(title: &str, text: &str) -> String {
    page(
        title,
        None,
        "",
        html! { p { (text) } p { a href="/" { "Torna alla pagina iniziale" } } },
    )
}

pub fn login(error: Option<&str>) -> String {
    page(
        "Accesso",
        None,
        "/login",
        html! {
            @if let Some(e) = error { div.flash.errore role="alert" { (e) } }
            form.card method="post" action="/login" {
                label for="user" { "Nome utente" }
                input #user type="text" name="user" autocomplete="username";
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password";
                p.meta { "Oppure, per l'amministratore:" }
                label for="token" { "Token di accesso" }
                input #token type="password" name="token" autocomplete="off";
                div.azioni { button type="submit" { "Entra" } }
            }
        },
    )
}

/// What an editor wrote in a card whose action was refused: shown again with the reason.
pub struct Draft {
    pub id: String,
    pub title: String,
    pub text: String,
    pub at: String,
    pub error: String,
}

pub fn queue(
    user: &User,
    app: &App,
    items: &[QueueItem],
    flash: Option<Flash>,
    draft: Option<&Draft>,
) -> String {
    let expiry = chrono::Duration::from_std(app.config().settings.review_expiry)
        .unwrap_or(chrono::Duration::MAX);
    let rejected = crate::review::recently_rejected(app.store(), app.now()).unwrap_or_default();
    let body = html! {
        (flash_box(flash))
        @if let Some(d) = draft {
            div.flash.errore role="alert" {
                "Non inviato né salvato: " (d.error) " "
                a href=(format!("#t-{}", d.id)) { "Vai al messaggio" }
            }
        }
        @for item in &rejected {
            div.card.rifiutato {
                p { "Rifiutato poco fa: " strong { (item.message.title) } }
                form method="post" action=(format!("/queue/{}/undo", item.message.id)) {
                    input type="hidden" name="csrf" value=(user.csrf());
                    button.secondario type="submit" { "Annulla il rifiuto" }
                }
            }
        }
        @if let Some(d) = draft.filter(|d| !items.iter().any(|i| i.message.id == d.id)) {
            // The item is gone (approved or rejected by someone else): the text stays here.
            article.card aria-labelledby=(format!("t-{}", d.id)) {
                h2 id=(format!("t-{}", d.id)) { (d.title) }
                p.meta { "Il tuo testo, non inviato: copialo se ti serve." }
                div.chat { div.bubble { (bubble(&d.text)) } }
                label for="t-perso" { "Il tuo testo" }
                textarea #t-perso readonly { (d.text) }
            }
        }
        @if items.is_empty() {
            p { "Nessun messaggio da approvare." }
        } @else {
            p.meta { "Dalla notizia pubblicata più di recente alla più vecchia." }
        }
        @for item in items {
            @let m = &item.message;
            @let id = &m.id;
            @let draft = draft.filter(|d| d.id == *id);
            @let text = draft.map_or(m.text.as_str(), |d| d.text.as_str());
            // What the source aims at: its summary length plus the title and the link.
            @let target = app.config().source(&m.source).and_then(|s| s.max_chars).unwrap_or(crate::format::DEFAULT_MAX_CHARS) + m.title.chars().count() + m.url.chars().count() + 8;
            article.card aria-labelledby=(format!("t-{id}")) {
                h2 id=(format!("t-{id}")) { (m.title) }
                p.meta {
                    (m.source)
                    @if m.published.is_some() { " · pubblicato il " (when(crate::review::published(item), app)) }
                    " · arrivato il " (when(item.queued_at, app))
                    @if m.priority == crate::config::Priority::Urgent { " · " strong.stato-ko { "URGENTE" } }
                    @if item.edited { " · modificato" }
                    @if let Some(at) = item.refreshed_at { " · aggiornato dalla fonte il " (when(at, app)) }
                    @if let Some(at) = item.removed_at { " · " strong.stato-ko { "rimosso dalla fonte" } " il " (when(at, app)) }
                    @if let Some(at) = item.send_at { " · programmato per il " (when(at, app)) }
                    @else if let Some(at) = item.queued_at.checked_add_signed(expiry) { " · scade il " (when(at, app)) }
                    br;
                    a.link href=(m.url) target="_blank" rel="noopener noreferrer" { "Apri la pagina originale" }
                }
                @if let Some(d) = draft {
                    div.flash.errore role="alert" { "Non salvato: " (d.error) " Il tuo testo è qui sotto, com'era." }
                }
                div.chat { div.bubble id=(format!("preview-{id}")) aria-live="polite" { (bubble(text)) } }
                // One form: the text in the box is what "Approva e invia" sends.
                form method="post" action=(format!("/queue/{id}/edit")) {
                    input type="hidden" name="csrf" value=(user.csrf());
                    label for=(format!("text-{id}")) { "Testo del messaggio WhatsApp" }
                    p.meta { "La prima riga in grassetto (*…*) è il titolo: è anche il testo del modello WhatsApp per chi non scrive al Comune da più di 24 ore." }
                    textarea id=(format!("text-{id}")) name="text" data-preview=(format!("preview-{id}")) data-counter=(format!("count-{id}")) data-limit=(MAX_TEXT) data-target=(target) required { (text) }
                    p.counter id=(format!("count-{id}")) { (plural(text.chars().count(), "carattere", "caratteri")) " (consigliati fino a " (target) ", massimo " (MAX_TEXT) ")" }
                    div.azioni {
                        button type="submit" formaction=(format!("/queue/{id}/approve")) { "Approva e invia" }
                        button.secondario type="submit" { "Salva le modifiche" }
                        button.pericolo type="submit" formaction=(format!("/queue/{id}/reject")) formnovalidate data-confirm="Rifiutare questo messaggio? Non sarà inviato." { "Rifiuta" }
                    }
                    label for=(format!("at-{id}")) { "Oppure invia il" }
                    input id=(format!("at-{id}")) type="datetime-local" name="at" value=(draft.map_or("", |d| d.at.as_str()));
                    div.azioni {
                        button.secondario type="submit" formaction=(format!("/queue/{id}/schedule")) { "Programma l'invio" }
                    }
                }
            }
        }
    };
    page("Da approvare", Some(user), "/", body)
}

/// Delivery states in Italian; for admins, a link to retry each failed or unknown one.
/// `queued`: the message is still in the outbox.
fn delivery_rows(
    user: &User,
    app: &App,
    message: &crate::item::Message,
    queued: bool,
) -> Result<Markup, StoreError> {
    let message_id = message.id.as_str();
    let store = app.store();
    let now = app.now();
    let mut rows = Vec::new();
    for sink in app.config().news_sinks() {
        let record = store.delivery(message_id, &sink.name)?;
        let state = match &record {
            Some(r) => r.state.label().it().to_owned(),
            // Not tried yet, or a retry is waiting: say why when the sink is failing.
            None if queued => waiting(app, &sink.name, message.priority, now)?,
            None => "non inviato (canale aggiunto dopo)".to_owned(),
        };
        let recipients = store.recipient_counts(message_id, &sink.name)?;
        let counts = recipients
            .iter()
            .map(|(s, n)| format!("{n} {}", s.label().it()))
            .collect::<Vec<_>>()
            .join(", ");
        let retry = user.role >= Role::Admin
            && !super::health::problems_of(sink, record, &recipients).is_empty();
        let link = retry.then(|| {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("messaggio", message_id)
                .append_pair("canale", &sink.name)
                .finish();
            format!("/consegne/riprova?{query}")
        });
        rows.push((sink.name.clone(), state, counts, link));
    }
    Ok(html! {
        ul {
            @for (sink, state, counts, link) in rows {
                li {
                    strong { (sink) } ": " (state) @if !counts.is_empty() { " (" (counts) ")" }
                    @if let Some(link) = link { " · " a href=(link) { "Riprova…" } }
                }
            }
        }
    })
}

/// A delivery not yet tried on a sink: waiting, or, when the sink is paused or failing, why
/// and until when.
fn waiting(
    app: &App,
    sink: &str,
    priority: crate::config::Priority,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, StoreError> {
    let store = app.store();
    if let Some(pause) = store.pause(sink)?.filter(|p| p.until > now) {
        return Ok(format!(
            "canale in pausa fino al {}",
            when(pause.until, app)
        ));
    }
    let health = store.sink_health(sink)?;
    Ok(match (&health.last_error, health.failures) {
        (Some(e), 1..) => {
            let next = match health.next_retry {
                Some(t) if t > now => format!("; nuovo tentativo il {}", when(t, app)),
                _ => "; nuovo tentativo a breve".to_owned(),
            };
            format!(
                "da riprovare, il canale è in errore: {}{next}",
                super::reasons::describe(e)
            )
        }
        _ => match app.quiet_until(priority, now) {
            Some(end) => format!(
                "in attesa della fine delle ore di silenzio: partirà il {}",
                when(end, app)
            ),
            None => "in attesa".to_owned(),
        },
    })
}

/// What "Inviati" shows: a text to look for, a range of days, a page.
#[derive(Debug, Default, Clone)]
pub struct LogQuery {
    pub text: String,
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
    /// From 1.
    pub page: usize,
}

impl LogQuery {
    pub fn from_query(q: &std::collections::HashMap<String, String>) -> LogQuery {
        let day = |k: &str| {
            q.get(k)
                .and_then(|d| chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        };
        LogQuery {
            text: q
                .get("testo")
                .map(|t| t.trim().to_owned())
                .unwrap_or_default(),
            from: day("dal"),
            to: day("al"),
            page: q
                .get("pagina")
                .and_then(|p| p.parse().ok())
                .filter(|p| *p >= 1)
                .unwrap_or(1),
        }
    }

    fn is_filtered(&self) -> bool {
        !self.text.is_empty() || self.from.is_some() || self.to.is_some()
    }

    /// Whether a message sent (or, still in delivery, queued) at `at` matches.
    fn keeps(
        &self,
        m: &crate::item::Message,
        at: chrono::DateTime<chrono::Utc>,
        tz: chrono_tz::Tz,
    ) -> bool {
        let day = at.with_timezone(&tz).date_naive();
        let text = self.text.to_lowercase();
        (text.is_empty()
            || m.title.to_lowercase().contains(&text)
            || m.text.to_lowercase().contains(&text))
            && self.from.is_none_or(|f| day >= f)
            && self.to.is_none_or(|t| day <= t)
    }

    /// The address of page `page` with the same filters.
    fn link(&self, page: usize) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !self.text.is_empty() {
            q.append_pair("testo", &self.text);
        }
        if let Some(d) = self.from {
            q.append_pair("dal", &d.to_string());
        }
        if let Some(d) = self.to {
            q.append_pair("al", &d.to_string());
        }
        q.append_pair("pagina", &page.to_string());
        format!("/log?{}", q.finish())
    }
}

const LOG_PAGE: usize = 50;

pub fn log(user: &User, app: &App, query: &LogQuery) -> Result<String, StoreError> {
    let store = app.store();
    let tz = app.config().settings.tz();
    let first = query.page == 1 && !query.is_filtered();
    // Messages still in delivery head the first page, searched like the others: one stuck
    // on a failing sink is the one most looked for.
    let queued: Vec<_> = if query.page == 1 {
        store
            .outbox()
            .filter(|r| {
                r.as_ref()
                    .map_or(true, |(_, e)| query.keeps(&e.message, e.enqueued_at, tz))
            })
            .take(LOG_PAGE)
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    let (done, more) = store.log_page(
        |e| query.keeps(&e.message, e.finished_at, tz),
        (query.page - 1) * LOG_PAGE,
        LOG_PAGE,
    )?;
    let mut cards = Vec::new();
    for (_, e) in &queued {
        cards.push((
            e.message.clone(),
            format!("in consegna dal {}", when(e.enqueued_at, app)),
            delivery_rows(user, app, &e.message, true)?,
        ));
    }
    for e in &done {
        cards.push((
            e.message.clone(),
            format!("inviato il {}", when(e.finished_at, app)),
            delivery_rows(user, app, &e.message, false)?,
        ));
    }
    let audit = if first {
        store.recent_audit(30)?
    } else {
        Vec::new()
    };
    // What was not sent, and why (the newest 30 decisions other than "send").
    let not_sent: Vec<_> = if first {
        store
            .recent_decisions(200)?
            .into_iter()
            .filter(|d| d.action != "send" && d.action != "correct")
            .take(30)
            .collect()
    } else {
        Vec::new()
    };
    let body = html! {
        form.card.cerca method="get" action="/log" {
            label for="l-testo" { "Cerca nel titolo o nel testo" }
            input #l-testo type="text" name="testo" value=(query.text);
            div.date {
                div { label for="l-dal" { "Dal" } input #l-dal type="date" name="dal" value=(query.from.map(|d| d.to_string()).unwrap_or_default()); }
                div { label for="l-al" { "Al" } input #l-al type="date" name="al" value=(query.to.map(|d| d.to_string()).unwrap_or_default()); }
            }
            div.azioni {
                button type="submit" { "Cerca" }
                @if query.is_filtered() { a.bottone.secondario href="/log" { "Mostra tutto" } }
            }
        }
        @if cards.is_empty() {
            p { @if query.is_filtered() { "Nessun messaggio inviato corrisponde alla ricerca." } @else { "Ancora nessun messaggio inviato." } }
        }
        @for (m, status, rows) in cards {
            article.card {
                h2 { (m.title) }
                p.meta {
                    @if m.priority == crate::config::Priority::Urgent { strong.stato-ko { "URGENTE" } " · " }
                    (m.source) " · " (status) " · " a.link href=(m.url) { "pagina ufficiale" }
                }
                details {
                    summary { "Testo inviato" }
                    div.chat { div.bubble { (bubble(&m.text)) } }
                }
                (rows)
            }
        }
        nav.pagine aria-label="Pagine" {
            @if query.page > 1 { a.bottone.secondario href=(query.link(query.page - 1)) { "← Più recenti" } }
            @if more { a.bottone.secondario href=(query.link(query.page + 1)) { "Meno recenti →" } }
        }
        @if !not_sent.is_empty() {
            h2 { "Non inviati, e perché" }
            ul.registro {
                @for d in &not_sent {
                    li {
                        (when(d.at, app)) " · " (d.source) " · "
                        @if let Some(url) = &d.url { a.link href=(url) { (d.title) } } @else { (d.title) }
                        " · " strong { (crate::pipeline::plan::reasons::italian(&d.reason)) }
                    }
                }
            }
        }
        @if !audit.is_empty() {
            h2 { "Registro delle azioni" }
            ul.registro {
                @for a in &audit {
                    li { (when(a.at, app)) " · " strong { (a.who) } " · " (a.action.label().it()) " · " (a.subject) }
                }
            }
        }
    };
    Ok(page("Inviati", Some(user), "/log", body))
}

pub fn sources(
    user: &User,
    app: &App,
    flash: Option<Flash>,
    can_add: bool,
) -> Result<String, StoreError> {
    let store = app.store();
    let mut rows = Vec::new();
    for src in &app.config().sources {
        rows.push((
            src,
            store.source_state(&src.name)?,
            store.source_paused(&src.name)?,
            store.held(&src.name)?.len(),
        ));
    }
    let alarms = super::health::alarms_box(&store.raised_alarms()?, app.config().settings.tz());
    let body = html! {
        (flash_box(flash))
        (alarms)
        // Cards, not a table: they read on a 390-px phone without scrolling sideways.
        @for (src, state, paused, held) in &rows {
            article.card aria-labelledby=(format!("s-{}", src.name)) {
                h2 id=(format!("s-{}", src.name)) { (src.name) }
                p.meta.indirizzo { (super::sources::kind_label(src.kind())) " · " (crate::link::redacted(&src.url)) }
                p {
                    @if *paused { strong { "in pausa" } }
                    @else if let Some(err) = state.last_error_it.as_ref().or(state.last_error.as_ref()) {
                        span.stato-ko { "errore" } " (" (plural(state.consecutive_failures as usize, "volta", "volte")) " di fila): " (err)
                    } @else if state.baselined && *held == 0 { span.stato-ok { "ok" } }
                    @else { "nuova: alla prima lettura registra le notizie presenti senza inviarle" }
                }
                @if *held > 0 {
                    // Flood protection: the batch waits for an admin, nothing of it was sent.
                    p {
                        span.stato-ko { "trattenute" } ": "
                        (plural(*held, "notizia nuova arrivata", "notizie nuove arrivate"))
                        " tutte insieme (un cambio di sito?): nessuna è partita. Mandale in approvazione per vederle una per una, o scartale."
                    }
                    div.azioni {
                        form method="post" action=(format!("/sources/{}/release", src.name)) {
                            input type="hidden" name="csrf" value=(user.csrf());
                            button type="submit" { "Manda in approvazione" }
                        }
                        form method="post" action=(format!("/sources/{}/release-digest", src.name)) {
                            input type="hidden" name="csrf" value=(user.csrf());
                            button.secondario type="submit" { "Manda come un solo messaggio" }
                        }
                        form method="post" action=(format!("/sources/{}/discard", src.name)) {
                            input type="hidden" name="csrf" value=(user.csrf());
                            button.pericolo type="submit" data-confirm="Scartare le notizie trattenute? Non saranno mai inviate." { "Scarta" }
                        }
                    }
                }
                dl.dati {
                    dt { "Ultima lettura riuscita" } dd { (state.last_success.map(|t| when(t, app)).unwrap_or_else(|| "—".into())) }
                    dt { "Prossima lettura" } dd { @if *paused { "— (in pausa)" } @else { (state.next_poll.map(|t| when(t, app)).unwrap_or_else(|| "—".into())) } }
                    dt { "Notizie viste" } dd { (state.items_seen) }
                }
                div.azioni {
                    @let action = if *paused { "resume" } else { "pause" };
                    form method="post" action=(format!("/sources/{}/{action}", src.name)) {
                        input type="hidden" name="csrf" value=(user.csrf());
                        button.secondario type="submit" { @if *paused { "Riprendi" } @else { "Pausa" } }
                    }
                    form method="post" action=(format!("/sources/{}/poll", src.name)) {
                        input type="hidden" name="csrf" value=(user.csrf());
                        button.secondario type="submit" { "Leggi ora" }
                    }
                    @if can_add {
                        a.bottone.secondario href=(format!("/sources/{}/edit", src.name)) { "Modifica" }
                    }
                }
            }
        }
        @if can_add {
            h2 { "Aggiungi una fonte" }
            form.card method="post" action="/sources/preview" {
                input type="hidden" name="csrf" value=(user.csrf());
                label for="new-url" { "Indirizzo del sito, del feed o delle allerte" }
                input #new-url type="url" name="url" required placeholder="https://www.comune.esempio.it/novita/";
                label for="new-name" { "Nome (facoltativo: lettere minuscole, cifre e trattini)" }
                input #new-name type="text" name="name" pattern="[a-z0-9-]{1,64}";
                div.azioni { button type="submit" { "Riconosci e mostra l'anteprima" } }
            }
        }
    };
    Ok(page("Fonti", Some(user), "/sources", body))
}

/// "1 messaggio", "2 messaggi".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
