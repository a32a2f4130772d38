//! A Cloud API sink's configuration, subscribers imported, and the application built
//! in-process, for the tests that broadcast.

#![allow(dead_code)]

use std::sync::Arc;

use crate::common::{rss, source, FeedServer, Route, Workdir};
use crate::providers::MockCloud;

/// The item every test feed starts with.
const FIRST: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");

pub fn cloud_sink(addr: std::net::SocketAddr, extra: &str) -> String {
    format!(
        "[[sink]]\nname = \"wa\"\nkind = \"whatsapp-cloud\"\napi_base = \"http://{addr}\"\napi_version = \"v23.0\"\n\
         phone_number_id = \"123456789012345\"\ntoken_env = \"WHATSAPP_TOKEN\"\napp_secret_env = \"WHATSAPP_APP_SECRET\"\n\
         verify_token_env = \"WHATSAPP_VERIFY_TOKEN\"\n{extra}\n"
    )
}

pub fn import(work: &Workdir, phones: &[impl AsRef<str>]) {
    let mut csv = String::from("phone,consented_at,consent_text\n");
    for p in phones {
        csv.push_str(&format!(
            "{},2025-01-01T10:00:00+01:00,modulo cartaceo firmato\n",
            p.as_ref()
        ));
    }
    let path = work.path().join("import.csv");
    std::fs::write(&path, csv).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_banditore"))
        .args(["subscribers", "import", path.to_str().unwrap()])
        .env("BANDITORE_CONFIG", work.config())
        .env("BANDITORE_DATA", work.path().join("data"))
        .env("WHATSAPP_TOKEN", "t")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The application in-process on `clock`, with the Cloud API sink's secrets set.
pub fn in_process(
    work: &Workdir,
    clock: Arc<dyn banditore::schedule::Clock>,
) -> banditore::daemon::App {
    for (k, v) in [
        ("WHATSAPP_TOKEN", "test-token-EAAG"),
        ("WHATSAPP_APP_SECRET", "app-secret"),
        ("WHATSAPP_VERIFY_TOKEN", "verify-me"),
    ] {
        std::env::set_var(k, v);
    }
    let config = banditore::config::Config::load(&work.config()).unwrap();
    banditore::daemon::App::build(config, &work.path().join("data"), clock).unwrap()
}

/// One feed (`/feed`, listing one item) followed by source "comune", and a Cloud API sink
/// with `extra` settings on a mock.
pub async fn one_feed_to_cloud(extra: &str) -> (FeedServer, MockCloud, Workdir) {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[FIRST])));
    let (cloud, addr) = MockCloud::start().await;
    let work = Workdir::with_sinks(
        "",
        &source("comune", &feeds.url("/feed"), ""),
        &cloud_sink(addr, extra),
    );
    (feeds, cloud, work)
}
