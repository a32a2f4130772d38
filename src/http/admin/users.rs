//! People: admins add users, change their role, set a new password and disable or enable them
//! (`/utenti`); everyone changes their own password (`/password`). Users live in the
//! configuration's `[[user]]` tables, written back with toml_edit like sources, and every
//! change goes to the audit log. Passwords are only ever stored as argon2 hashes.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use maud::html;

use super::config_file::rewrite_config;
use super::extract::{Form, Path};
use super::{audit, back, views, Admin, Role, User};
use crate::store::AuditAction;

/// The shortest password accepted (as `banditore hash-password`).
pub const MIN_PASSWORD: usize = 10;

/// argon2 computations at once: each takes tens of milliseconds of CPU by design, so they
/// run on blocking threads, and a flood of logins waits its turn instead of stalling the
/// runtime threads that poll sources and deliver messages.
const HASHING_AT_ONCE: usize = 2;

/// Runs `work` (an argon2 hash or check) on the blocking pool, at most
/// [`HASHING_AT_ONCE`] at a time. `None` only if the work panicked.
pub(super) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> =
        std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(HASHING_AT_ONCE));
    let _slot = HASHING.acquire().await.ok()?;
    tokio::task::spawn_blocking(work).await.ok()
}

/// [`hash_password`] on the blocking pool.
async fn hash_off_thread(password: String) -> Result<String, String> {
    off_thread(move || hash_password(&password))
        .await
        .unwrap_or_else(|| Err("la password non si può cifrare".into()))
}

/// An argon2 hash (PHC string) of `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::PasswordHasher;
    if password.chars().count() < MIN_PASSWORD {
        return Err(format!(
            "la password deve avere almeno {MIN_PASSWORD} caratteri"
        ));
    }
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("la password non si può cifrare ({e})"))
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "amministratore",
        Role::Editor => "redazione",
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Editor => "editor",
    }
}

pub async fn page(State(admin): State<Admin>, user: User) -> Response {
    if let Err(r) = user.require(Role::Admin) {
        return r.into_response();
    }
    let app = admin.app();
    let flash = admin.take_flash(&user);
    let body = html! {
        (views::flash_box(flash))
        @for u in &app.config().users {
            article.card {
                h2 { (u.name) }
                p.meta {
                    (role_label(u.role))
                    @if u.disabled { " · " strong.stato-ko { "disattivato" } }
                    @if u.name == user.name { " · sei tu" }
                }
                div.azioni {
                    @if u.name != user.name {
                        form method="post" action=(format!("/utenti/{}/ruolo", u.name)) {
                            input type="hidden" name="csrf" value=(user.csrf());
                            @let other = if u.role == Role::Admin { Role::Editor } else { Role::Admin };
                            input type="hidden" name="ruolo" value=(role_name(other));
                            button.secondario type="submit" { "Rendi " (role_label(other)) }
                        }
                        form method="post" action=(format!("/utenti/{}/{}", u.name, if u.disabled { "attiva" } else { "disattiva" })) {
                            input type="hidden" name="csrf" value=(user.csrf());
                            @if u.disabled {
                                button.secondario type="submit" { "Riattiva" }
                            } @else {
                                button.pericolo type="submit" data-confirm=(format!("Disattivare {}? Non potrà più entrare.", u.name)) { "Disattiva" }
                            }
                        }
                    }
                }
                details {
                    summary { "Imposta una nuova password" }
                    form method="post" action=(format!("/utenti/{}/password", u.name)) {
                        input type="hidden" name="csrf" value=(user.csrf());
                        label for=(format!("pw-{}", u.name)) { "Nuova password (almeno " (MIN_PASSWORD) " caratteri)" }
                        input id=(format!("pw-{}", u.name)) type="password" name="nuova" autocomplete="new-password" minlength=(MIN_PASSWORD) required;
                        div.azioni { button.secondario type="submit" { "Salva la password" } }
                    }
                }
            }
        }
        h2 { "Aggiungi una persona" }
        form.card method="post" action="/utenti/nuovo" {
            input type="hidden" name="csrf" value=(user.csrf());
            label for="u-name" { "Nome utente (lettere minuscole, cifre, punti e trattini)" }
            input #u-name type="text" name="nome" required pattern="[a-z0-9][a-z0-9.\\-]{1,39}" autocomplete="off";
            label for="u-role" { "Ruolo" }
            select #u-role name="ruolo" {
                option value="editor" selected { "redazione: approva e vede gli inviati" }
                option value="admin" { "amministratore: anche fonti, iscritti e persone" }
            }
            label for="u-pw" { "Password iniziale (almeno " (MIN_PASSWORD) " caratteri; comunicala di persona)" }
            input #u-pw type="password" name="nuova" autocomplete="new-password" minlength=(MIN_PASSWORD) required;
            div.azioni { button type="submit" { "Aggiungi" } }
        }
    };
    Html(views::page("Persone", Some(&user), "/utenti", body)).into_response()
}

/// Adds a person.
pub async fn add(
    State(admin): State<Admin>,
    user: User,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.admin_form(&form) {
        return r.into_response();
    }
    let field = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let name = field("nome");
    // Starting with a letter or digit: a name like ".." would make its own addresses
    // (/utenti/NAME/...) unusable.
    let valid = (2..=40).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let checked = if !valid {
        Err("nome utente non valido: lettere minuscole, cifre, punti e trattini".to_owned())
    } else if name == "amministratore" {
        Err("«amministratore» è il nome di chi entra con il token: scegline un altro".to_owned())
    } else if admin.app().config().users.iter().any(|u| u.name == name) {
        Err(format!("c'è già una persona di nome {name}"))
    } else {
        match role_of(&field("ruolo")) {
            None => Err("scegli un ruolo".to_owned()),
            Some(role) => hash_off_thread(field("nuova"))
                .await
                .map(|hash| (role, hash)),
        }
    };
    let (role, hash) = match checked {
        Ok(c) => c,
        Err(e) => return back(&admin, &user, "/utenti", Err(format!("Non fatto: {e}."))),
    };
    let added = name.clone();
    let result = rewrite_config(&admin, move |doc| {
        let mut table = toml_edit::Table::new();
        table["name"] = toml_edit::value(added.as_str());
        table["role"] = toml_edit::value(role_name(role));
        table["password_hash"] = toml_edit::value(hash.as_str());
        doc.entry("user")
            .or_insert(toml_edit::Item::ArrayOfTables(
                toml_edit::ArrayOfTables::new(),
            ))
            .as_array_of_tables_mut()
            .ok_or("nel file di configurazione `user` non è un elenco di tabelle [[user]]")?
            .push(table);
        Ok(())
    });
    finish(
        &admin,
        &user,
        AuditAction::UserAdd,
        &name,
        result.map(|()| {
            (
                format!("{name} aggiunto come {}.", role_label(role)),
                Some(role_label(role).to_owned()),
            )
        }),
    )
}

/// What an action on an existing user changes in its table, and what it says.
pub async fn change(
    State(admin): State<Admin>,
    user: User,
    Path((target, what)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.admin_form(&form) {
        return r.into_response();
    }
    let app = admin.app();
    if !app.config().users.iter().any(|u| u.name == target) {
        return super::not_found();
    }
    if target == user.name {
        return back(&admin, &user, "/utenti",
            Err("Per i tuoi dati usa la pagina Password; ruolo e accesso li cambia un altro amministratore.".into()),
        );
    }
    let field = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let (edit, done): (toml_edit::Item, String) = match what.as_str() {
        "ruolo" => match role_of(&field("ruolo")) {
            Some(role) => (
                toml_edit::value(role_name(role)),
                format!("{target} ora è {}.", role_label(role)),
            ),
            None => return back(&admin, &user, "/utenti", Err("Scegli un ruolo.".into())),
        },
        "password" => match hash_off_thread(field("nuova")).await {
            Ok(hash) => (
                toml_edit::value(hash),
                format!("Nuova password impostata per {target}: comunicagliela di persona."),
            ),
            Err(e) => return back(&admin, &user, "/utenti", Err(format!("Non fatto: {e}."))),
        },
        "disattiva" => (toml_edit::value(true), format!("{target} disattivato.")),
        "attiva" => (toml_edit::value(false), format!("{target} riattivato.")),
        _ => return super::not_found(),
    };
    let key = match what.as_str() {
        "ruolo" => "role",
        "password" => "password_hash",
        _ => "disabled",
    };
    let name = target.clone();
    let result = rewrite_config(&admin, move |doc| {
        let table =
            user_table(doc, &name).ok_or("la persona non è più nel file di configurazione")?;
        if key == "disabled" && edit.as_bool() == Some(false) {
            table.remove("disabled");
        } else {
            table[key] = edit;
        }
        Ok(())
    });
    if result.is_ok() && what == "password" {
        // A new password set by an admin signs the person out everywhere.
        if let Err(e) = app.store().end_other_sessions_of(&target, None) {
            tracing::error!(error = %e, "cannot end the user's sessions");
        }
    }
    // The audit never holds a password or its hash.
    let noted = match what.as_str() {
        "password" => "password cambiata".to_owned(),
        other => other.to_owned(),
    };
    finish(
        &admin,
        &user,
        AuditAction::UserChange,
        &target,
        result.map(|()| (done, Some(noted))),
    )
}

/// Everyone's own password: the current one, then the new one twice.
pub async fn own_page(State(admin): State<Admin>, user: User) -> Response {
    let from_config = admin
        .app()
        .config()
        .users
        .iter()
        .any(|u| u.name == user.name);
    let flash = admin.take_flash(&user);
    let body = html! {
        (views::flash_box(flash))
        @if from_config {
            form.card method="post" action="/password" {
                input type="hidden" name="csrf" value=(user.csrf());
                label for="p-old" { "Password attuale" }
                input #p-old type="password" name="attuale" autocomplete="current-password" required;
                label for="p-new" { "Nuova password (almeno " (MIN_PASSWORD) " caratteri)" }
                input #p-new type="password" name="nuova" autocomplete="new-password" minlength=(MIN_PASSWORD) required;
                label for="p-again" { "Ripeti la nuova password" }
                input #p-again type="password" name="ripeti" autocomplete="new-password" minlength=(MIN_PASSWORD) required;
                div.azioni { button type="submit" { "Cambia la password" } }
            }
        } @else {
            p { "Sei entrato con il token di amministrazione: non c'è una password da cambiare." }
        }
    };
    Html(views::page("Password", Some(&user), "/password", body)).into_response()
}

pub async fn own_change(
    State(admin): State<Admin>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    user: User,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.check_csrf(&form) {
        return r.into_response();
    }
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let app = admin.app();
    let Some(me) = app.config().users.iter().find(|u| u.name == user.name) else {
        return back(
            &admin,
            &user,
            "/password",
            Err("Non c'è una password da cambiare.".into()),
        );
    };
    // A wrong current password counts as a failed login: the same limits, per account and
    // per address, so a session left open cannot be used to guess the password.
    let ip = super::login::client_ip(&admin, peer, &headers);
    let current = field("attuale");
    let hash = me.password_hash.clone();
    let check = off_thread(move || verify_password(&hash, &current));
    match super::login::limited(&admin, &me.name, ip, async { check.await.unwrap_or(false) }).await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(user = %me.name, %ip, "wrong current password on /password");
            return back(
                &admin,
                &user,
                "/password",
                Err("La password attuale non è giusta.".into()),
            );
        }
        Err(why) => {
            tracing::warn!(user = %me.name, %ip, "password change refused: too many failures");
            return back(&admin, &user, "/password", Err(why.into()));
        }
    }
    if field("nuova") != field("ripeti") {
        return back(
            &admin,
            &user,
            "/password",
            Err("Le due nuove password non coincidono.".into()),
        );
    }
    let hash = match hash_off_thread(field("nuova")).await {
        Ok(h) => h,
        Err(e) => return back(&admin, &user, "/password", Err(format!("Non fatto: {e}."))),
    };
    let name = user.name.clone();
    let result = rewrite_config(&admin, move |doc| {
        let table =
            user_table(doc, &name).ok_or("la persona non è più nel file di configurazione")?;
        table["password_hash"] = toml_edit::value(hash);
        Ok(())
    });
    let back_to = "/password";
    match result {
        Ok(()) => {
            // Whoever else had this account open is signed out.
            if let Err(e) = app
                .store()
                .end_other_sessions_of(&user.name, user.session_key())
            {
                tracing::error!(error = %e, "cannot end the user's other sessions");
            }
            audit(
                &app,
                &user,
                AuditAction::UserChange,
                &user.name,
                None,
                Some("password cambiata".into()),
            );
            back(&admin, &user, back_to, Ok("Password cambiata.".into()))
        }
        Err(e) => back(&admin, &user, back_to, Err(format!("Non fatto: {e}."))),
    }
}

/// Whether `password` matches the argon2 hash `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::PasswordVerifier;
    argon2::PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn role_of(text: &str) -> Option<Role> {
    match text {
        "admin" => Some(Role::Admin),
        "editor" => Some(Role::Editor),
        _ => None,
    }
}

fn user_table<'a>(
    doc: &'a mut toml_edit::DocumentMut,
    name: &str,
) -> Option<&'a mut toml_edit::Table> {
    doc.get_mut("user")?
        .as_array_of_tables_mut()?
        .iter_mut()
        .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name))
}

fn finish(
    admin: &Admin,
    user: &User,
    action: AuditAction,
    subject: &str,
    result: Result<(String, Option<String>), String>,
) -> Response {
    match result {
        Ok((done, after)) => {
            let app = admin.app();
            audit(&app, user, action, subject, None, after);
            back(admin, user, "/utenti", Ok(done))
        }
        Err(e) => back(admin, user, "/utenti", Err(format!("Non fatto: {e}."))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// On a runtime with a single thread, password work still runs two at a time (so it is
    /// off that thread), and never more.
    #[tokio::test]
    async fn password_work_runs_off_the_runtime_a_few_at_a_time() {
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs = (0..6).map(|_| {
            let (now, most) = (now.clone(), most.clone());
            super::off_thread(move || {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(running, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(100));
                now.fetch_sub(1, Ordering::SeqCst);
            })
        });
        let done = futures_util::future::join_all(jobs).await;
        assert!(done.iter().all(Option::is_some));
        assert_eq!(most.load(Ordering::SeqCst), super::HASHING_AT_ONCE);
    }
}
