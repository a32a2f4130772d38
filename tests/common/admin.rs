//! The admin UI served on a loopback port for HTTP-level tests, a client that shows redirects
//! instead of following them, and the few things every admin test reads from a page.

use banditore::http::admin::{router, Admin};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

/// The argon2 hash of [`PASSWORD`], for the editors the tests configure.
pub const EDITOR_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$JrOaxvPILV1NcOwU/9PtAA$kzomt0r335h0+0VL9goCca0cP4kpvkl9wiJ2X59OPIg";
pub const PASSWORD: &str = "una-password-lunga";
/// The admin token the tests' admin UIs are given.
pub const TOKEN: &str = "tok-admin";

/// A running admin UI.
pub struct Web {
    pub base: String,
    pub client: reqwest::Client,
    pub stop: CancellationToken,
    pub server: tokio::task::JoinHandle<()>,
}

/// Serves `admin` on a free loopback port until `Web::stop` is cancelled.
pub async fn serve(admin: Admin) -> Web {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn({
        let stop = stop.clone();
        async move {
            axum::serve(
                listener,
                router(admin).into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .unwrap()
        }
    });
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    Web {
        base: format!("http://{addr}"),
        client,
        stop,
        server,
    }
}

impl Web {
    /// Stops the server and waits for it.
    pub async fn shut(self) {
        self.stop.cancel();
        self.server.await.unwrap();
    }

    pub async fn login(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}/login", self.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Logs in; the session cookie (`name=value`).
    pub async fn session(&self, form: &[(&str, &str)]) -> String {
        let resp = self.login(form).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        cookie.split(';').next().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A session with the admin token.
    pub async fn admin(&self) -> String {
        self.session(&[("token", TOKEN)]).await
    }

    /// A session of the editor `name` (configured with [`EDITOR_HASH`]).
    pub async fn editor(&self, name: &str) -> String {
        self.session(&[("user", name), ("password", PASSWORD)])
            .await
    }

    /// A page that must answer 200.
    pub async fn page(&self, path: &str, cookie: &str) -> String {
        let resp = self.get(path, cookie).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        resp.text().await.unwrap()
    }
}

/// The CSRF token of the first form in a page.
pub fn csrf(html: &str) -> String {
    regex::Regex::new(r#"name="csrf" value="([0-9a-f]+)""#)
        .unwrap()
        .captures(html)
        .unwrap()[1]
        .to_owned()
}

/// The text of the page's one-shot message and whether it is an error, if it shows one.
pub fn flash_of(html: &str) -> Option<(bool, String)> {
    regex::Regex::new(
        r#"<div class="flash( errore)?" role="status">([^<]*)(?:<a [^>]*>[^<]*</a>)?</div>"#,
    )
    .unwrap()
    .captures(html)
    .map(|c| (c.get(1).is_some(), c[2].to_owned()))
}

/// English words in a page's visible text (tags, scripts and web addresses left out): people
/// read Italian only, so this should be empty.
pub fn english(html: &str) -> Vec<String> {
    let hidden = regex::Regex::new(
        r"(?s)<script.*?</script>|<style.*?</style>|<[^>]*>|https?://\S+|[\w.-]+\.[a-z]{2,}\b",
    )
    .unwrap();
    let text = hidden.replace_all(html, " ");
    let words = regex::Regex::new(
        r"(?i)\b(the|is|are|not|must|error|failed|invalid|connection|refused|found|allowed|method|expected|unknown|missing|needs|timed|timeout|lookup|address|request|deserialize|cannot|could|only|line|with|and|of|to|should|unable|problem|empty)\b",
    )
    .unwrap();
    words
        .find_iter(&text)
        .map(|m| m.as_str().to_owned())
        .collect()
}
