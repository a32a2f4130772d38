//! The review queue ("Da approvare"): the page, and what editors do on it. What the editor
//! sees in the box is what is sent; a refused change comes back with the editor's text.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::extract::{Form, Path};
use super::{back, server_error, views, Admin, User};
use crate::config::Priority;

pub(super) async fn page(State(admin): State<Admin>, user: User) -> Response {
    let app = admin.app();
    match app.pending() {
        Ok(items) => Html(views::queue(
            &user,
            &app,
            &items,
            admin.take_flash(&user),
            None,
        ))
        .into_response(),
        Err(e) => server_error(e),
    }
}

pub(super) async fn action(
    State(admin): State<Admin>,
    user: User,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.check_csrf(&form) {
        return r.into_response();
    }
    let app = admin.app();
    let who = user.name.clone();
    // What the editor sees in the box is what is sent: approving or scheduling saves the
    // text of the form first (nothing when unchanged; refused when invalid). Its bold first
    // line is the title; a form without a title field keeps the item's for a text without one.
    let title = form.get("title").map(String::as_str).unwrap_or_default();
    // Quiet hours hold a normal message: the editor is told when it will really leave.
    let priority = app
        .store()
        .queue_item(&id)
        .ok()
        .flatten()
        .map_or(Priority::Normal, |i| i.message.priority);
    let tz = app.config().settings.tz();
    let held = |at: chrono::DateTime<chrono::Utc>, words: &str| match app.quiet_until(priority, at)
    {
        Some(end) => format!(
            " {words} nelle ore di silenzio: partirà il {}.",
            end.with_timezone(&tz).format("%d/%m/%Y alle %H:%M")
        ),
        None => String::new(),
    };
    let keep_edits = || match form.get("text") {
        Some(text) => app.edit(&id, &who, title, text).map(|_| ()),
        None => Ok(()),
    };
    let result = match action.as_str() {
        "approve" => keep_edits()
            .and_then(|()| app.approve(&id, &who, None))
            .map(|_| match held(app.now(), "Siamo") {
                quiet if quiet.is_empty() => "Messaggio approvato: è in invio.".to_owned(),
                quiet => format!("Messaggio approvato.{quiet}"),
            }),
        "reject" => app.reject(&id, &who).map(|_| {
            "Messaggio rifiutato. Per un minuto puoi ancora annullare il rifiuto.".to_owned()
        }),
        "undo" => app
            .unreject(&id, &who)
            .map(|_| "Rifiuto annullato: il messaggio aspetta di nuovo l'approvazione.".to_owned()),
        "edit" => app
            .edit(
                &id,
                &who,
                title,
                form.get("text").map(String::as_str).unwrap_or_default(),
            )
            .map(|_| "Modifiche salvate.".to_owned()),
        "schedule" => {
            let at = form
                .get("at")
                .and_then(|v| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M").ok())
                .and_then(|n| chrono::TimeZone::from_local_datetime(&tz, &n).earliest())
                .map(|t| t.with_timezone(&chrono::Utc));
            match at {
                Some(at) if at > app.now() => keep_edits()
                    .and_then(|()| app.approve(&id, &who, Some(at)))
                    .map(|_| {
                        format!(
                            "Invio programmato per il {}.{}",
                            at.with_timezone(&tz).format("%d/%m/%Y alle %H:%M"),
                            held(at, "Quell'ora è")
                        )
                    }),
                _ => Err(crate::review::ReviewError::NotFuture),
            }
        }
        _ => return super::not_found(),
    };
    match result {
        // What the editor wrote is shown again, in its card, with the reason: never lost, also
        // when someone else handled the item meanwhile. (A script gets the reason as text.)
        Err(e)
            if (e.is_invalid_input() || e.is_gone())
                && form.contains_key("text")
                && user.session.is_some() =>
        {
            let text = form.get("text").cloned().unwrap_or_default();
            let draft = views::Draft {
                id: id.clone(),
                title: crate::review::headline(&text)
                    .or_else(|| form.get("title").cloned())
                    .unwrap_or_else(|| "Messaggio".to_owned()),
                text,
                at: form.get("at").cloned().unwrap_or_default(),
                error: e.italian(),
            };
            match app.pending() {
                Ok(items) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Html(views::queue(&user, &app, &items, None, Some(&draft))),
                )
                    .into_response(),
                Err(e) => server_error(e),
            }
        }
        other => back(&admin, &user, "/", other.map_err(|e| e.italian())),
    }
}
