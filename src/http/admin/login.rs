//! Signing in and out: the login form, its limits per account and per client address, and
//! logout (which ends every session of the user).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::extract::Form;
use super::{constant_time_eq, server_error, views, Admin, User, SESSION_TTL};
use crate::config::Role;

/// Failed logins are counted over this long from the first one.
const LOGIN_WINDOW: Duration = Duration::from_secs(600);
/// Failed logins one account may have in the window; then it is locked until the window ends.
const ACCOUNT_ATTEMPTS: u32 = 5;
/// Failed logins one client address may have in the window, whatever accounts they name:
/// higher than per account, so one person's typos do not lock out an office behind one NAT
/// address, yet one address cannot try account after account.
const ADDRESS_ATTEMPTS: u32 = 20;
/// Account names are counted by at most this many characters (memory per entry is bounded).
const ACCOUNT_NAME_MAX: usize = 64;

/// Who a login attempt is for.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Account {
    Token,
    /// The name as typed (at most [`ACCOUNT_NAME_MAX`] characters), configured or not: an
    /// unknown name is locked like a known one, so locking tells nothing about which exist.
    User(String),
}

/// Attempts counted since `since` (the first of the window): failures, and attempts still
/// being checked.
struct Window {
    count: u32,
    since: Instant,
}

/// Failed logins in the current window (and those being checked), per account and per client
/// address.
#[derive(Default)]
pub(super) struct Failures {
    accounts: HashMap<Account, Window>,
    addresses: HashMap<IpAddr, Window>,
}

impl Failures {
    /// Lets a login for `account` from `ip` be tried, counting it as failed already (so
    /// attempts sent in parallel cannot pass a limit together), or says why it is refused
    /// without looking at its password.
    fn attempt(&mut self, account: &Account, ip: IpAddr) -> Result<(), &'static str> {
        self.accounts
            .retain(|_, w| w.since.elapsed() < LOGIN_WINDOW);
        self.addresses
            .retain(|_, w| w.since.elapsed() < LOGIN_WINDOW);
        if self
            .addresses
            .get(&ip)
            .is_some_and(|w| w.count >= ADDRESS_ATTEMPTS)
        {
            return Err(
                "Troppi tentativi di accesso da questo indirizzo: riprova fra qualche minuto.",
            );
        }
        if self
            .accounts
            .get(account)
            .is_some_and(|w| w.count >= ACCOUNT_ATTEMPTS)
        {
            return Err(
                "Troppi tentativi di accesso per questo utente: riprova fra qualche minuto.",
            );
        }
        let new = || Window {
            count: 0,
            since: Instant::now(),
        };
        self.accounts
            .entry(account.clone())
            .or_insert_with(new)
            .count += 1;
        self.addresses.entry(ip).or_insert_with(new).count += 1;
        Ok(())
    }

    /// The attempt was good: its account's failures are forgotten, and the attempt itself no
    /// longer counts against its address. The address's other failures still do: otherwise
    /// one valid account would let an address try others without end.
    fn succeeded(&mut self, account: &Account, ip: IpAddr) {
        self.accounts.remove(account);
        if let Some(w) = self.addresses.get_mut(&ip) {
            w.count = w.count.saturating_sub(1);
        }
    }
}

/// A bearer token is about to be checked: counted like a login with the token (refused
/// without checking when the token or the address has had too many failures).
pub(super) fn token_attempt(admin: &Admin, ip: IpAddr) -> Result<(), &'static str> {
    admin
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .attempt(&Account::Token, ip)
}

/// The bearer token was right.
pub(super) fn token_succeeded(admin: &Admin, ip: IpAddr) {
    admin
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .succeeded(&Account::Token, ip);
}

/// The client's address: the TCP peer, or behind a trusted proxy the one it names.
pub(super) fn client_ip(admin: &Admin, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    crate::http::client::client_address(
        peer.ip(),
        headers,
        &admin.app().config().settings.trusted_proxies,
    )
}

/// Checks a password of the user `name` (typed by someone at `ip`) with `check`, counted
/// against the same limits as logins: refused without checking when the account or the
/// address has had too many failures; a good password clears the account's failures.
pub(super) async fn limited(
    admin: &Admin,
    name: &str,
    ip: IpAddr,
    check: impl std::future::Future<Output = bool>,
) -> Result<bool, &'static str> {
    let account = Account::User(name.chars().take(ACCOUNT_NAME_MAX).collect());
    let failures = || admin.failures.lock().unwrap_or_else(|p| p.into_inner());
    failures().attempt(&account, ip)?;
    let good = check.await;
    if good {
        failures().succeeded(&account, ip);
    }
    Ok(good)
}

/// Whether `password` matches `hash`, the password hash of a user. Without a user (an
/// unknown name, or a disabled one) a hash made up for the purpose is checked all the same
/// and the answer is no: the time taken does not tell which names exist. On the blocking
/// pool, a few at a time ([`super::users::off_thread`]).
pub(super) async fn verify_user(hash: Option<String>, password: String) -> bool {
    static NOBODY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        super::users::hash_password(&super::random_hex()).unwrap_or_default()
    });
    super::users::off_thread(move || match hash {
        Some(hash) => super::users::verify_password(&hash, &password),
        None => {
            let _ = super::users::verify_password(&NOBODY, &password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

pub async fn login_page() -> Html<String> {
    Html(views::login(None))
}

pub async fn login(
    State(admin): State<Admin>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let app = admin.app();
    let config = app.config();
    let ip = client_ip(&admin, peer, &headers);
    let field = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or_default();
    let token = field("token");
    let name = field("user");
    let account = if token.is_empty() {
        Account::User(name.chars().take(ACCOUNT_NAME_MAX).collect())
    } else {
        Account::Token
    };
    // Typed names are logged only when they are users: a password typed in the wrong box
    // must not end up in the log.
    let logged_name = match &account {
        Account::Token => "(token)",
        Account::User(_) if config.users.iter().any(|u| u.name == name) => name,
        Account::User(_) => "(unknown user)",
    };
    let attempt = admin
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .attempt(&account, ip);
    if let Err(why) = attempt {
        tracing::warn!(%ip, account = logged_name, "admin login refused: too many failures");
        return (StatusCode::TOO_MANY_REQUESTS, Html(views::login(Some(why)))).into_response();
    }
    let user = if account == Account::Token {
        admin
            .token
            .as_ref()
            .filter(|t| constant_time_eq(token, t.expose()))
            .map(|_| ("amministratore".to_owned(), Role::Admin))
    } else {
        let password = form.get("password").map(String::as_str).unwrap_or_default();
        let user = config.users.iter().find(|u| u.name == name && !u.disabled);
        // Checked even for a name nobody has (against a made-up hash): as slow either way.
        let good = verify_user(user.map(|u| u.password_hash.clone()), password.to_owned()).await;
        user.filter(|_| good).map(|u| (u.name.clone(), u.role))
    };
    match user {
        Some((name, role)) => {
            admin
                .failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .succeeded(&account, ip);
            tracing::info!(user = %name, %ip, "admin login");
            match admin.new_session(&name, role, account == Account::Token) {
                Ok(id) => (
                    [(
                        header::SET_COOKIE,
                        admin.cookie(&id, SESSION_TTL.num_seconds().unsigned_abs()),
                    )],
                    Redirect::to("/"),
                )
                    .into_response(),
                Err(e) => server_error(e),
            }
        }
        None => {
            tracing::warn!(%ip, account = logged_name, "admin login failed");
            (
                StatusCode::UNAUTHORIZED,
                Html(views::login(Some("Nome, password o token non validi."))),
            )
                .into_response()
        }
    }
}

/// Ends every session of the user who logs out, on every device.
pub async fn logout(
    State(admin): State<Admin>,
    user: User,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = user.check_csrf(&form) {
        return r.into_response();
    }
    if let Some(session) = &user.session {
        match admin
            .app()
            .store()
            .end_sessions_of(&user.name, session.by_token)
        {
            Ok(n) => tracing::info!(user = %user.name, sessions = n, "admin logout"),
            Err(e) => return server_error(e),
        }
    }
    (
        [(header::SET_COOKIE, admin.cookie("", 0))],
        Redirect::to("/login"),
    )
        .into_response()
}

/// `BANDITORE_ADMIN_TOKEN` (or its file, or credential): refused when too short, or when a
/// file was named but cannot be read.
pub(super) fn token_from_env() -> anyhow::Result<Option<String>> {
    let token = crate::config::secret_from_env("BANDITORE_ADMIN_TOKEN");
    // A token file that was meant but cannot be read is said, users or not.
    if token.is_none()
        && std::env::var_os("BANDITORE_ADMIN_TOKEN_FILE").is_some_and(|v| !v.is_empty())
    {
        anyhow::bail!(
            "the admin token: {}",
            crate::config::why_no_secret("BANDITORE_ADMIN_TOKEN")
        );
    }
    if let Some(t) = &token {
        let length = t.chars().count();
        if length < super::MIN_TOKEN {
            anyhow::bail!(
                "BANDITORE_ADMIN_TOKEN has {length} characters: use at least {} (e.g. the output of `openssl rand -hex 24`)",
                super::MIN_TOKEN
            );
        }
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Account {
        Account::User(name.into())
    }

    #[test]
    fn accounts_lock_before_addresses() {
        let mut f = Failures::default();
        let office: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..ACCOUNT_ATTEMPTS {
            assert_eq!(f.attempt(&user("redazione"), office), Ok(()));
        }
        let locked = f.attempt(&user("redazione"), office).unwrap_err();
        assert!(locked.contains("per questo utente"), "{locked}");
        // Refused attempts are not counted: the rest of the office still has its share.
        assert_eq!(f.attempt(&user("sindaco"), office), Ok(()));
        assert_eq!(f.attempt(&Account::Token, office), Ok(()));
    }

    #[test]
    fn an_address_is_limited_over_every_account() {
        let mut f = Failures::default();
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        for i in 0..ADDRESS_ATTEMPTS - 1 {
            assert_eq!(f.attempt(&user(&format!("n{i}")), ip), Ok(()));
        }
        // A good login takes back its own attempt only.
        assert_eq!(f.attempt(&user("redazione"), ip), Ok(()));
        f.succeeded(&user("redazione"), ip);
        assert_eq!(f.attempt(&user("altro"), ip), Ok(()));
        let locked = f.attempt(&user("redazione"), ip).unwrap_err();
        assert!(locked.contains("da questo indirizzo"), "{locked}");
        let elsewhere: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(f.attempt(&user("redazione"), elsewhere), Ok(()));
    }

    #[test]
    fn success_clears_the_account() {
        let mut f = Failures::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..ACCOUNT_ATTEMPTS - 1 {
            f.attempt(&user("redazione"), ip).unwrap();
        }
        f.succeeded(&user("redazione"), ip);
        for _ in 0..ACCOUNT_ATTEMPTS {
            assert_eq!(f.attempt(&user("redazione"), ip), Ok(()));
        }
    }
}
