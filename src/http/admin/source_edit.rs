//! Editing and deleting a source from the admin UI: the same checks, the same toml_edit
//! write-back and the same audit trail as adding one (`sources.rs`).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use url::Url;

use super::config_file::rewrite_config;
use super::extract::{Form, Path};
use super::source_form::{remove_source, source_table, Fields};
use super::sources::{followed_by, followed_flash, kind_label};
use super::{audit, back, back_with_link, refused, source_form, views, Admin, Role, User};
use crate::deliver::trial::TrialError;
use crate::store::{AuditAction, Flash};

/// The edit form of a source, with what the configuration file says about it.
pub async fn page(State(admin): State<Admin>, user: User, Path(name): Path<String>) -> Response {
    if let Err(r) = user.require(Role::Admin) {
        return r.into_response();
    }
    let app = admin.app();
    let Some(src) = app.config().source(&name) else {
        return super::not_found();
    };
    let fields = match current_fields(&admin, &name) {
        Ok(f) => f,
        Err(e) => return back(&admin, &user, "/sources", Err(e)),
    };
    let flash = admin.take_flash(&user);
    Html(edit_page(
        &user,
        &app,
        src,
        src.url.as_str(),
        &fields,
        flash,
    ))
    .into_response()
}

/// The edit page of `src`, its form showing `url` and `fields` (what the file says, or what
/// the admin wrote when the change was refused).
fn edit_page(
    user: &User,
    app: &crate::daemon::App,
    src: &crate::config::SourceConfig,
    url: &str,
    fields: &Fields,
    flash: Option<Flash>,
) -> String {
    let name = &src.name;
    let kind = src.kind();
    let body = html! {
        (views::flash_box(flash))
        form.card method="post" action=(format!("/sources/{name}/edit")) {
            input type="hidden" name="csrf" value=(user.csrf());
            p { "Tipo: " strong { (kind_label(kind)) } }
            label for="e-url" { "Indirizzo" }
            input #e-url type="url" name="url" value=(url) required;
            p.meta { "Se cambi indirizzo, alla prossima lettura banditore registra le notizie presenti senza inviarle." }
            (fields.render(kind))
            div.azioni {
                button type="submit" { "Salva le modifiche" }
                a.bottone.secondario href="/sources" { "Annulla" }
            }
        }
        h2 { "Provare l'invio" }
        form.card method="post" action=(format!("/sources/{name}/test-send")) {
            input type="hidden" name="csrf" value=(user.csrf());
            p { "Manda l'ultima notizia della fonte, come la manderebbe oggi, segnata come PROVA. Non arriva ai cittadini e non conta come inviata." }
            label for="t-sink" { "Canale" }
            select #t-sink name="sink" {
                @for sink in &app.config().sinks {
                    @if !matches!(sink.settings, crate::config::SinkSettings::WhatsappGateway(_)) {
                        option value=(sink.name) { (sink.name) " (" (sink_label(sink)) ")" }
                    }
                }
            }
            label for="t-phone" { "Il tuo numero di cellulare (solo per WhatsApp)" }
            input #t-phone type="tel" name="phone" autocomplete="tel" placeholder="+39 333 1234567";
            div.azioni { button.secondario type="submit" { "Manda una prova" } }
        }
        h2 { "Eliminare la fonte" }
        form.card method="post" action=(format!("/sources/{name}/delete")) {
            input type="hidden" name="csrf" value=(user.csrf());
            p { "La fonte smette di essere letta. I messaggi già inviati restano nell'elenco degli inviati." }
            label.scelta {
                input type="checkbox" name="conferma" value="si" required;
                " Sì, elimina " strong { (name) }
            }
            div.azioni { button.pericolo type="submit" { "Elimina la fonte" } }
        }
    };
    views::page(&format!("Modifica {name}"), Some(user), "/sources", body)
}

/// Saves the edit form.
pub async fn save(
    State(admin): State<Admin>,
    user: User,
    Path(name): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (app, src) = match source_form(&admin, &user, &name, &form) {
        Ok(found) => found,
        Err(r) => return r.into_response(),
    };
    let back_to = format!("/sources/{name}/edit");
    let url_text = form.get("url").map(|u| u.trim()).unwrap_or_default();
    // A refused change shows the form again as the admin wrote it, with the reason (a
    // script gets the reason as text).
    let refuse = |flash: Flash| -> Response {
        if user.session.is_none() {
            return back_with_link(&admin, &user, &back_to, Err(flash.text), flash.link);
        }
        let mut fields = Fields::from_form(&form);
        fields.cron = current_fields(&admin, &name).ok().and_then(|f| f.cron);
        let page = edit_page(&user, &app, &src, url_text, &fields, Some(flash));
        (StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response()
    };
    let error = |text: String| Flash {
        ok: false,
        text,
        link: None,
    };
    let Ok(url) = Url::parse(url_text) else {
        return refuse(error("Indirizzo non valido.".into()));
    };
    if let Some(other) = followed_by(app.config(), &url, &name) {
        return refuse(followed_flash("Questo indirizzo", other));
    }
    let url_changed = crate::ident::canonical_url(&url) != crate::ident::canonical_url(&src.url);
    if url_changed {
        if let Err(e) = super::sources::check_address(&url, &app).await {
            return refuse(error(e));
        }
    }
    let mut fields = Fields::from_form(&form);
    let result = rewrite_config(&admin, |doc| {
        let table =
            source_table(doc, &name).ok_or("la fonte non è più nel file di configurazione")?;
        fields.cron = Fields::from_table(table).cron;
        fields.write(table, src.kind())?;
        table["url"] = toml_edit::value(url.as_str());
        Ok(())
    });
    if let Err(e) = result {
        return refuse(error(refused("Modifica", &e)));
    }
    let app = admin.app();
    let mut note = String::new();
    if url_changed {
        // A new address starts with a baseline, like a new source: what it lists now is
        // recorded, not sent.
        let reset = app.store().source_state(&name).and_then(|mut state| {
            state.baselined = false;
            state.validators = Default::default();
            app.store().put_source_state(&name, &state)
        });
        if let Err(e) = reset {
            tracing::error!(source = %name, error = %e, "cannot reset the source's state");
        }
        note =
            " Alla prossima lettura le notizie presenti saranno registrate senza inviarle.".into();
    }
    audit(
        &app,
        &user,
        AuditAction::SourceEdit,
        &name,
        Some(src.url.to_string()),
        Some(url.to_string()),
    );
    back(
        &admin,
        &user,
        "/sources",
        Ok(format!("Fonte {name} aggiornata.{note}")),
    )
}

/// Pauses, resumes or reads now a source, releases or discards its held batch (the buttons
/// on Fonti).
pub(super) async fn action(
    State(admin): State<Admin>,
    user: User,
    Path((name, action)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let app = match source_form(&admin, &user, &name, &form) {
        Ok((app, _)) => app,
        Err(r) => return r.into_response(),
    };
    if let Some(what) = match action.as_str() {
        "release" => Some(Held::Review),
        "release-digest" => Some(Held::Digest),
        "discard" => Some(Held::Discard),
        _ => None,
    } {
        return held_batch(&admin, &user, &app, &name, what);
    }
    let (result, audited) = match action.as_str() {
        "pause" => (
            app.set_paused(&name, true)
                .map(|_| format!("{name}: in pausa."))
                .map_err(|e| e.to_string()),
            AuditAction::SourcePause,
        ),
        "resume" => (
            app.set_paused(&name, false)
                .map(|_| format!("{name}: ripresa."))
                .map_err(|e| e.to_string()),
            AuditAction::SourceResume,
        ),
        // A paused source is not read, "now" included: say so rather than promise a read.
        "poll" => match app.store().source_paused(&name) {
            Ok(true) => (
                Err(format!(
                    "{name} è in pausa: non viene letta. Premi «Riprendi» per leggerla subito."
                )),
                AuditAction::SourcePoll,
            ),
            Ok(false) => {
                app.poll_soon(&name);
                (
                    Ok(format!("{name}: lettura richiesta.")),
                    AuditAction::SourcePoll,
                )
            }
            Err(e) => (Err(e.to_string()), AuditAction::SourcePoll),
        },
        _ => return super::not_found(),
    };
    audit(&app, &user, audited, &name, None, None);
    back(&admin, &user, "/sources", result)
}

/// A batch held by flood protection: sent to the review queue (editors take each item
/// there) or discarded (never sent). Audited by `review`.
/// What an admin does with a batch flood protection held.
enum Held {
    Review,
    Digest,
    Discard,
}

fn held_batch(
    admin: &Admin,
    user: &User,
    app: &crate::daemon::App,
    name: &str,
    what: Held,
) -> Response {
    let (store, now) = (app.store(), app.now());
    let done = match what {
        Held::Review => crate::review::release_held(store, now, name, &user.name),
        Held::Digest => crate::review::release_held_as_digest(store, now, name, &user.name),
        Held::Discard => crate::review::discard_held(store, now, name, &user.name),
    };
    let count = super::reasons::count;
    let result = match (done, what) {
        (Ok(0), _) => Err(format!("{name}: nessuna notizia trattenuta.")),
        (Ok(n), Held::Review) => Ok(format!(
            "{name}: {} in «Da approvare»: la redazione le approva o rifiuta una per una.",
            count(n, "notizia trattenuta è ora", "notizie trattenute sono ora")
        )),
        (Ok(n), Held::Digest) => {
            app.wake_delivery();
            Ok(format!(
                "{name}: {} in un solo messaggio, una riga e il collegamento per ciascuna.",
                count(n, "notizia trattenuta parte", "notizie trattenute partono")
            ))
        }
        (Ok(n), Held::Discard) => Ok(format!(
            "{name}: {}: non saranno inviate.",
            count(
                n,
                "notizia trattenuta scartata",
                "notizie trattenute scartate"
            )
        )),
        (Err(e), _) => return super::server_error(e),
    };
    back(admin, user, "/sources", result)
}

/// Deletes a source (with the confirmation box ticked).
pub async fn delete(
    State(admin): State<Admin>,
    user: User,
    Path(name): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let src = match source_form(&admin, &user, &name, &form) {
        Ok((_, src)) => src,
        Err(r) => return r.into_response(),
    };
    if form.get("conferma").map(String::as_str) != Some("si") {
        return back(
            &admin,
            &user,
            &format!("/sources/{name}/edit"),
            Err("Per eliminare la fonte spunta la conferma.".into()),
        );
    }
    let result = rewrite_config(&admin, |doc| {
        if remove_source(doc, &name) {
            Ok(())
        } else {
            Err("la fonte non è più nel file di configurazione".into())
        }
    });
    match result {
        Ok(()) => {
            let app = admin.app();
            audit(
                &app,
                &user,
                AuditAction::SourceDelete,
                &name,
                Some(src.url.to_string()),
                None,
            );
            back(
                &admin,
                &user,
                "/sources",
                Ok(format!("Fonte {name} eliminata.")),
            )
        }
        Err(e) => back(&admin, &user, "/sources", Err(refused("Eliminazione", &e))),
    }
}

/// Sends a test of the source's newest item to one sink (see `deliver::trial`).
pub async fn test_send(
    State(admin): State<Admin>,
    user: User,
    Path(name): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let app = match source_form(&admin, &user, &name, &form) {
        Ok((app, _)) => app,
        Err(r) => return r.into_response(),
    };
    let back_to = format!("/sources/{name}/edit");
    let phone_text = form.get("phone").map(|p| p.trim()).unwrap_or_default();
    let phone = match crate::phone::Phone::parse(phone_text) {
        Some(p) => Some(p),
        None if phone_text.is_empty() => None,
        None => {
            return back(
                &admin,
                &user,
                &back_to,
                Err(format!(
                    "«{phone_text}» non è un numero di cellulare valido."
                )),
            )
        }
    };
    let sink = form.get("sink").cloned().unwrap_or_default();
    let result = app
        .test_send(&name, &sink, phone.as_ref())
        .await
        .map_err(|e| match e {
            TrialError::Sink { sink, error } => {
                format!(
                    "non inviato a {sink}: {}",
                    super::reasons::sink_error(&error)
                )
            }
            other => other.to_string(),
        });
    audit(
        &app,
        &user,
        AuditAction::TestSend,
        &name,
        None,
        Some(match &result {
            Ok(done) => done.clone(),
            Err(e) => format!("non riuscito: {e}"),
        }),
    );
    back(
        &admin,
        &user,
        &back_to,
        result
            .map(|done| format!("Prova: {done}."))
            .map_err(|e| format!("Prova non riuscita: {e}.")),
    )
}

fn sink_label(sink: &crate::config::SinkConfig) -> &'static str {
    use crate::config::SinkSettings;
    match sink.settings {
        SinkSettings::Console => "console del server",
        SinkSettings::File { .. } => "file",
        SinkSettings::WhatsappCloud(_) => "WhatsApp, al numero qui sotto",
        SinkSettings::WhatsappGateway(_) => "canale WhatsApp",
        SinkSettings::Webhook(_) => "webhook",
        SinkSettings::Email(_) => "e-mail",
        SinkSettings::Telegram(_) => "canale Telegram",
        SinkSettings::Mastodon(_) => "Mastodon",
    }
}

fn current_fields(admin: &Admin, name: &str) -> Result<Fields, String> {
    let path = admin
        .config_path
        .as_ref()
        .ok_or("questa istanza non ha un file di configurazione da modificare")?;
    let mut doc = super::config_file::read_config(path)?;
    source_table(&mut doc, name)
        .map(|t| Fields::from_table(t))
        .ok_or_else(|| {
            "la fonte non è nel file di configurazione principale: se viene da un file incluso (include = …), modificala in quel file"
                .into()
        })
}
