//! Admin alerts, end to end with the real binary: a source that keeps failing and a sink that
//! keeps failing each raise one alert on the alert sink, once, and one recovery notice when
//! they clear; the alert sink carries no news; `check` refuses alerts sent to citizens.
//! Alerts arrive by e-mail and by WhatsApp to the admins' numbers; a site's certificate near
//! its end is an alert.

#[path = "common/cloud.rs"]
mod cloud;
mod common;
#[path = "common/providers.rs"]
mod providers;

use common::{rss, source, FeedServer, Route, Workdir};

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");
const B: (&str, &str, &str) = ("b", "https://comune.example.it/notizie/b/", "Avviso B");

/// The notices on the alert sink: (key, state).
fn notices(work: &Workdir) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(work.path().join("allarmi.jsonl")).unwrap_or_default();
    text.lines()
        .map(|line| {
            let m: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(m["kind"], "alert", "{line}");
            (
                m["alert"].as_str().unwrap().to_owned(),
                m["alert_state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A working directory whose admin alerts go to `allarmi.jsonl` beside the configuration (a
/// file sink's relative path is the configuration's folder), with `settings` and more sinks.
fn alerted(settings: &str, sources: &str, sinks: &str) -> Workdir {
    Workdir::with_sinks(
        &format!("alerts = [\"allarmi\"]\n{settings}"),
        sources,
        &format!(
            "[[sink]]\nname = \"allarmi\"\nkind = \"file\"\npath = \"allarmi.jsonl\"\n\n{sinks}"
        ),
    )
}

fn pair(key: &str, state: &str) -> (String, String) {
    (key.to_owned(), state.to_owned())
}

#[tokio::test]
async fn a_failing_source_and_sink_alert_once_and_clear_once() {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    feeds.set("/hook", Route::status(500));
    let work = alerted(
        "alert_after_failures = 2",
        &source("comune", &feeds.url("/feed"), ""),
        &format!(
            "[[sink]]\nname = \"automazione\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"WEBHOOK_SECRET\"\n",
            feeds.url("/hook")
        ),
    );
    let work_notices = || notices(&work);

    work.once().await; // the baseline
    feeds.set("/feed", Route::status(503));
    work.run(&["once"]).await;
    assert!(work_notices().is_empty(), "one failure is not yet an alert");
    work.run(&["once"]).await;
    assert_eq!(work_notices(), [pair("source-failing:comune", "raised")]);
    work.run(&["once"]).await;
    assert_eq!(work_notices().len(), 1, "told once");

    // The source recovers with news: the news goes out (not to the alert sink), the webhook
    // fails twice and alerts, and the source's alert clears.
    feeds.set("/feed", Route::feed(rss(&[B, A])));
    work.run(&["once"]).await;
    work.run(&["once"]).await;
    assert_eq!(
        work_notices(),
        [
            pair("source-failing:comune", "raised"),
            pair("source-failing:comune", "cleared"),
            pair("sink-failing:automazione", "raised"),
        ]
    );
    assert_eq!(work.messages().len(), 1, "the news went to the news sink");

    feeds.set("/hook", Route::status(200));
    work.run(&["once"]).await;
    assert_eq!(
        work_notices().last(),
        Some(&pair("sink-failing:automazione", "cleared"))
    );
    // A recovery says so, and what the trouble was.
    let file = std::fs::read_to_string(work.path().join("allarmi.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(file.lines().last().unwrap()).unwrap();
    let text = last["text"].as_str().unwrap();
    assert!(
        text.contains("Tutto di nuovo regolare, dopo meno di un minuto. Il problema era: "),
        "{text}"
    );
    let log = String::from_utf8_lossy(&work.run(&["log"]).await.stdout).into_owned();
    assert!(
        !log.contains("allarmi:"),
        "the alert sink carries no news: {log}"
    );
}

#[tokio::test]
async fn alerts_never_go_to_citizens() {
    let work = Workdir::with_sinks(
        "alerts = [\"wa\", \"nessuno\"]",
        &source("comune", "https://comune.example.it/feed", ""),
        "[[sink]]\nname = \"wa\"\nkind = \"whatsapp-cloud\"\nphone_number_id = \"1\"\ntoken_env = \"WHATSAPP_TOKEN\"\n\
         app_secret_env = \"WHATSAPP_APP_SECRET\"\nverify_token_env = \"WHATSAPP_VERIFY_TOKEN\"\n",
    );
    let out = work.run(&["check"]).await;
    let err = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("a whatsapp-cloud sink without admins: admin alerts would go to citizens"),
        "{err}"
    );
    assert!(err.contains("\"nessuno\", which is no [[sink]]"), "{err}");
}

#[tokio::test]
async fn alerts_reach_the_admins_on_whatsapp_and_never_the_subscribers() {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let (mock, addr) = providers::MockCloud::start().await;
    // The comune's one number twice: news to the subscribers, alerts to two admins (the
    // second has not written in 24 hours: only the template reaches them).
    let admin_sink = cloud::cloud_sink(
        addr,
        "admins = [\"+39 333 000 0001\", \"333 000 0002\"]\n\
         template = { name = \"avviso_admin\", language = \"it\" }",
    )
    .replace("name = \"wa\"", "name = \"wa-admin\"");
    let work = Workdir::with_sinks(
        "alerts = [\"wa-admin\"]\nalert_after_failures = 1",
        &source("comune", &feeds.url("/feed"), ""),
        &format!("{}\n{admin_sink}", cloud::cloud_sink(addr, "")),
    );
    cloud::import(&work, &["+39 333 999 0009"]);
    work.once().await;
    mock.script("393330000002", &[131047]);
    feeds.set("/feed", Route::status(503));
    let out = work.run(&["once"]).await;
    let log = String::from_utf8_lossy(&out.stderr);
    let first = mock.sends_to("393330000001");
    assert_eq!(first.len(), 1, "{log}");
    assert_eq!(first[0]["type"], "text");
    let text = first[0]["text"]["body"].as_str().unwrap();
    assert!(text.contains("La fonte «comune» non si legge"), "{text}");
    let second = mock.sends_to("393330000002");
    assert_eq!(
        second.len(),
        2,
        "text, refused, then the template: {second:?}"
    );
    assert_eq!(second[1]["type"], "template");
    assert_eq!(second[1]["template"]["name"], "avviso_admin");
    let params = &second[1]["template"]["components"][0]["parameters"];
    assert!(
        params[1]["text"].as_str().unwrap().contains("503"),
        "the template carries the reason: {params}"
    );
    assert!(
        mock.sends_to("393339990009").is_empty(),
        "no alert to a citizen"
    );
    assert!(mock.violations().is_empty(), "{:?}", mock.violations());
    assert!(
        !log.contains("3330000001") && !log.contains("3330000002"),
        "no admin number in the log: {log}"
    );

    // The admins' numbers are for alerts only.
    let config = std::fs::read_to_string(work.config())
        .unwrap()
        .replace("alerts = [\"wa-admin\"]", "");
    std::fs::write(work.config(), config).unwrap();
    let out = work.run(&["check"]).await;
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("admins is for a sink that sends admin alerts"),
        "{said}"
    );
}

#[tokio::test]
async fn a_gateway_logged_out_of_whatsapp_is_an_alert_before_anything_waits() {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let (gateway, gaddr) = providers::MockGateway::start().await;
    gateway.state.lock().unwrap().status = Some("SCAN_QR_CODE".into());
    let work = alerted(
        "",
        &source("comune", &feeds.url("/feed"), ""),
        &format!(
            "[[sink]]\nname = \"canale\"\nkind = \"whatsapp-gateway\"\napi_base = \"http://{gaddr}\"\nsession = \"default\"\n\
             chat_id = \"120363000000000000@newsletter\"\napi_key_env = \"WAHA_API_KEY\"\nhmac_key_env = \"WAHA_HMAC\"\n"
        ),
    );
    work.once().await; // the baseline: nothing to send, and still the session is checked
    assert_eq!(notices(&work), [pair("sink-unready:canale", "raised")]);
    let said = std::fs::read_to_string(work.path().join("allarmi.jsonl")).unwrap();
    assert!(said.contains("SCAN_QR_CODE"), "{said}");
    gateway.state.lock().unwrap().status = None;
    work.once().await;
    assert_eq!(
        notices(&work),
        [
            pair("sink-unready:canale", "raised"),
            pair("sink-unready:canale", "cleared")
        ]
    );
}

/// A TLS server on loopback for `/feed` whose certificate (for 127.0.0.1, issued by a test
/// authority) expires in `days`; returns its address and the authority's PEM.
async fn tls_feed(days: i64, body: String) -> (std::net::SocketAddr, String) {
    use chrono::Datelike;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let end = chrono::Utc::now() + chrono::Duration::days(days);
    params.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
    let cert = params.signed_by(&key, &ca).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(conn).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, ca.pem())
}

#[tokio::test]
async fn a_certificate_about_to_expire_is_an_alert() {
    let (addr, ca) = tls_feed(5, rss(&[A])).await;
    let work = alerted(
        "",
        &source("comune", &format!("https://{addr}/feed"), ""),
        "",
    );
    // The test authority is trusted the way a system's own would be.
    let ca_file = work.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let out = work
        .command(&["once"])
        .env("SSL_CERT_FILE", &ca_file)
        .output()
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert_eq!(
        notices(&work),
        [pair("certificate:127.0.0.1", "raised")],
        "{log}"
    );
    let said = std::fs::read_to_string(work.path().join("allarmi.jsonl")).unwrap();
    assert!(
        said.contains("scade tra 4 giorni") || said.contains("scade tra 5 giorni"),
        "{said}"
    );
}

#[tokio::test]
async fn alerts_arrive_by_email() {
    let feeds = FeedServer::start().await;
    feeds.set("/feed", Route::feed(rss(&[A])));
    let sim = banditore::simulator::Simulator::start().await.unwrap();
    let smtp = sim.smtp;
    // The keys of the interface: a relay on this machine, without TLS.
    let sinks = format!(
        "[[sink]]\nname = \"posta\"\nkind = \"email\"\nsmtp_host = \"{}\"\nsmtp_port = {}\ntls = \"none\"\n\
         from = \"Comune di Prova <banditore@comune.example.it>\"\nto = [\"ced@comune.example.it\"]\n",
        smtp.ip(),
        smtp.port()
    );
    let work = Workdir::with_sinks(
        "alerts = [\"posta\"]\nalert_after_failures = 1",
        &source("comune", &feeds.url("/feed"), ""),
        &sinks,
    );
    work.once().await;
    feeds.set("/feed", Route::status(503));
    let out = work.run(&["once"]).await;
    let mail = sim.mails();
    assert_eq!(mail.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(mail[0].contains("Subject: "), "{}", mail[0]);
    assert!(mail[0].contains("To: ced@comune.example.it"), "{}", mail[0]);
    assert!(mail[0].contains("503"), "the reason: {}", mail[0]);
    assert!(
        mail[0].contains("Message-ID: <alert-source-failing-comune-raised-"),
        "a retried mail is the same mail: {}",
        mail[0]
    );
}

#[tokio::test]
async fn an_email_sink_encrypts_or_stays_on_this_machine() {
    let work = Workdir::with_sinks(
        "",
        &source("comune", "https://comune.example.it/feed", ""),
        "[[sink]]\nname = \"posta\"\nkind = \"email\"\nsmtp_host = \"smtp.example.it\"\ntls = \"none\"\n\
         from = \"banditore@comune.example.it\"\nto = [\"non un indirizzo\"]\n\n\
         [[sink]]\nname = \"vecchia\"\nkind = \"email\"\nsmtp = \"smtps://ced:segreto@smtp.example.it\"\n\
         from = \"banditore@comune.example.it\"\nto = [\"ced@comune.example.it\"]\n\
         list_unsubscribe = \"ftp://comune.example.it/\"\n",
    );
    let out = work.run(&["check"]).await;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("unencrypted"), "{said}");
    assert!(
        said.contains("the password does not go in the configuration"),
        "{said}"
    );
    assert!(
        said.contains("\"non un indirizzo\" is not an e-mail address"),
        "{said}"
    );
    assert!(
        said.contains("is neither a mailto: nor an https: address"),
        "{said}"
    );
    assert!(
        !said.contains("segreto"),
        "the password is not repeated: {said}"
    );
}
