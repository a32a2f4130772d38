//! The binary run the way the Helm chart in `deploy/helm/banditore` runs it: the
//! configuration on the data volume, the admin and webhook servers on every address, probes
//! on `/healthz` and `/readyz`, SIGTERM to stop, the same volume after a restart.

mod common;

use std::time::{Duration, Instant};

use common::{free_port, rss, source, stop, wait_for, FeedServer, Route};

const A: (&str, &str, &str) = ("a", "https://comune.example.it/notizie/a/", "Avviso A");
const B: (&str, &str, &str) = ("b", "https://comune.example.it/notizie/b/", "Avviso B");

/// The chart's `terminationGracePeriodSeconds` default.
const GRACE: Duration = Duration::from_secs(60);

struct Volume {
    dir: tempfile::TempDir,
    admin: u16,
    metrics: u16,
}

impl Volume {
    fn new(feed: &str) -> Volume {
        let dir = tempfile::tempdir().unwrap();
        let (admin, metrics) = (free_port(), free_port());
        let config = format!(
            "[settings]\nadmin_listen = \"0.0.0.0:{admin}\"\nwebhook_listen = \"0.0.0.0:{}\"\nmetrics_listen = \"127.0.0.1:{metrics}\"\nquiet_hours = \"off\"\n\n{}\n\
             [[sink]]\nname = \"out\"\nkind = \"file\"\npath = \"{}\"\n",
            free_port(),
            source("comune", feed, ""),
            dir.path().join("messages.jsonl").display()
        );
        std::fs::write(dir.path().join("sources.toml"), config).unwrap();
        Volume {
            dir,
            admin,
            metrics,
        }
    }

    /// `banditore run` with the chart's arguments and a secret from the environment.
    fn run(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_banditore"));
        cmd.arg("run")
            .arg("--config")
            .arg(self.dir.path().join("sources.toml"))
            .arg("--data")
            .arg(self.dir.path().join("store"))
            .env(
                "BANDITORE_ADMIN_TOKEN",
                "a-long-admin-token-for-the-probe-test",
            )
            .env_remove("BANDITORE_CONFIG")
            .env_remove("BANDITORE_DATA")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn healthcheck(&self) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_banditore"))
            .arg("healthcheck")
            .arg("--config")
            .arg(self.dir.path().join("sources.toml"))
            .arg("--data")
            .arg(self.dir.path().join("store"))
            .output()
            .await
            .unwrap()
    }

    fn messages(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("messages.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    async fn probe(&self, path: &str) -> Option<u16> {
        reqwest::get(format!("http://127.0.0.1:{}{path}", self.admin))
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    async fn wait_ready(&self) {
        for _ in 0..400 {
            if self.probe("/readyz").await == Some(200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("/readyz never answered 200");
    }
}

/// A loop that keeps failing is restarted, then left down: `/healthz` fails (on every
/// listener) and `healthcheck` says why, so that the chart's liveness probe restarts the pod.
#[tokio::test]
async fn a_loop_that_keeps_failing_makes_the_daemon_unhealthy() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    let volume = Volume::new(&server.url("/feed"));
    let mut daemon = volume
        .run()
        .env("BANDITORE_FAILPOINT", "source-loop")
        .spawn()
        .unwrap();
    volume.wait_ready().await;
    let mut unhealthy = false;
    for _ in 0..300 {
        if volume.probe("/healthz").await == Some(503) {
            unhealthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(unhealthy, "/healthz never failed");
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/healthz", volume.metrics))
        .await
        .unwrap();
    assert_eq!(metrics.status(), 503);
    assert!(metrics.text().await.unwrap().contains("polls of comune"));
    let check = volume.healthcheck().await;
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("failpoint source-loop"));
    stop(&mut daemon).await;
}

#[tokio::test]
async fn runs_as_the_chart_runs_it() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    let volume = Volume::new(&server.url("/feed"));

    let mut pod = volume.run().spawn().unwrap();
    volume.wait_ready().await;
    assert_eq!(volume.probe("/healthz").await, Some(200));
    // The container's HEALTHCHECK: the same question from the command line.
    assert!(volume.healthcheck().await.status.success());
    assert_eq!(volume.probe("/metrics").await, Some(200));
    // The metrics listener: probes and metrics alone, no admin UI.
    let on_metrics = |path: &str| format!("http://127.0.0.1:{}{path}", volume.metrics);
    let scrape = reqwest::get(on_metrics("/metrics")).await.unwrap();
    assert_eq!(scrape.status(), 200);
    let scrape = scrape.text().await.unwrap();
    for line in [
        "banditore_ready 1",
        "banditore_sink_paused{sink=\"out\"} 0",
        "banditore_build_info{",
    ] {
        assert!(scrape.contains(line), "{line} in {scrape}");
    }
    assert_eq!(
        reqwest::get(on_metrics("/readyz")).await.unwrap().status(),
        200
    );
    assert_eq!(reqwest::get(on_metrics("/")).await.unwrap().status(), 404);

    // The baseline, then one new item: one message.
    wait_for(|| server.requests("/feed").len() >= 2).await;
    server.set("/feed", Route::feed(rss(&[B, A])));
    wait_for(|| volume.messages() == 1).await;

    // What a Prometheus reads: every sample parses, every family is typed, and the counters
    // say what happened (counted a moment after the file got its line).
    let mut scrape = String::new();
    for _ in 0..100 {
        scrape = reqwest::get(on_metrics("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if scrape.contains("banditore_messages_total{sink=\"out\",outcome=\"sent\"} 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let samples = parse_metrics(&scrape);
    let value = |name: &str| samples.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    assert!(
        value("banditore_polls_total{source=\"comune\",outcome=\"ok\"}") >= Some(2.0),
        "{scrape}"
    );
    assert_eq!(
        value("banditore_messages_total{sink=\"out\",outcome=\"sent\"}"),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        value("banditore_items_new_total{source=\"comune\"}"),
        Some(1.0),
        "{scrape}"
    );

    // A second pod on the same volume is refused, and says why.
    let second = volume.run().output().await.unwrap();
    assert!(!second.status.success());
    let why = String::from_utf8_lossy(&second.stderr);
    assert!(why.contains("in use by another banditore"), "{why}");

    // SIGTERM: exit 0 well within the grace period.
    let asked = Instant::now();
    let status = stop(&mut pod).await;
    assert!(status.success(), "{status:?}");
    assert!(asked.elapsed() < GRACE, "took {:?}", asked.elapsed());
    let down = volume.healthcheck().await;
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("no daemon answers"));

    // The restarted pod sends nothing twice.
    let polls = server.requests("/feed").len();
    let mut pod = volume.run().spawn().unwrap();
    volume.wait_ready().await;
    wait_for(|| server.requests("/feed").len() >= polls + 2).await;
    assert_eq!(volume.messages(), 1);
    assert!(stop(&mut pod).await.success());

    // A Secret with a token too short to resist guessing: refused at start, saying why.
    let short = volume
        .run()
        .env("BANDITORE_ADMIN_TOKEN", "admin123")
        .output()
        .await
        .unwrap();
    assert!(!short.status.success());
    let why = String::from_utf8_lossy(&short.stderr);
    assert!(why.contains("at least 20"), "{why}");
}

/// A configuration file broken while the daemon runs: the daemon keeps the one it runs,
/// says so in `/metrics` (and to the admins), and stays healthy for `healthcheck`; a fix
/// is applied and clears it.
#[tokio::test]
async fn a_refused_configuration_keeps_the_daemon_healthy_and_says_so() {
    let server = FeedServer::start().await;
    server.set("/feed", Route::feed(rss(&[A])));
    let volume = Volume::new(&server.url("/feed"));
    let mut pod = volume.run().spawn().unwrap();
    volume.wait_ready().await;
    let config = volume.dir.path().join("sources.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        good.replace("every = \"1s\"", "every = \"trenta\""),
    )
    .unwrap();
    let refused = |wanted: u8| {
        let url = format!("http://127.0.0.1:{}/metrics", volume.metrics);
        async move {
            for _ in 0..200 {
                let scrape = reqwest::get(&url).await.unwrap().text().await.unwrap();
                if scrape.contains(&format!("banditore_config_refused {wanted}\n")) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(refused(1).await, "the refusal shows in /metrics");
    let check = volume.healthcheck().await;
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    std::fs::write(&config, good).unwrap();
    assert!(refused(0).await, "the fix is applied");
    assert!(stop(&mut pod).await.success());
}

/// The systemd unit in `contrib/` passes `systemd-analyze verify` (where the machine has it),
/// with this build's binary in place of the installed one.
#[test]
fn the_systemd_unit_verifies() {
    let Ok(which) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("systemd-analyze not installed: skipped");
        return;
    };
    assert!(which.status.success());
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/banditore.service"
    ))
    .unwrap()
    .replace("/usr/local/bin/banditore", env!("CARGO_BIN_EXE_banditore"))
    // The man page is installed with the binary; not here.
    .replace("Documentation=man:banditore(1)\n", "");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("banditore.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

/// The Prometheus text format (0.0.4), read strictly: `(series, value)` of every sample; a
/// sample whose family has no `# TYPE`, a bad name or a value that is not a number fails.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    let mut typed = std::collections::HashSet::new();
    let (mut done, mut current) = (std::collections::HashSet::new(), None::<String>);
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            typed.insert(words.next().unwrap().to_owned());
            let kind = words.next().unwrap();
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "no # TYPE for {line}");
        // A family's samples come together.
        if current.as_deref() != Some(family) {
            assert!(
                done.insert(family.to_owned()),
                "{family} interleaved with another family"
            );
            current = Some(family.to_owned());
        }
        samples.push((series.to_owned(), value));
    }
    samples
}

/// The image's entrypoint (`contrib/docker-entrypoint.sh`): the configuration mounted at the
/// seed path is copied into the volume on first start, private, and never over an edited one.
#[test]
fn the_image_entrypoint_seeds_the_configuration_once() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.toml");
    let config = dir.path().join("volume/sources.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &seed,
        format!(
            "{}\n[[sink]]\nname = \"out\"\nkind = \"file\"\npath = \"out.jsonl\"\n",
            source("comune", "https://comune.example.it/feed", "")
        ),
    )
    .unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_banditore"))
        .parent()
        .unwrap();
    let entrypoint = |args: &[&str]| {
        std::process::Command::new("sh")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/contrib/docker-entrypoint.sh"
            ))
            .args(args)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("BANDITORE_CONFIG", &config)
            .env("BANDITORE_SEED_CONFIG", &seed)
            .env("BANDITORE_DATA", dir.path().join("volume"))
            .output()
            .unwrap()
    };
    let out = entrypoint(&["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    std::fs::write(&config, "# edited by the admin UI\n").unwrap();
    entrypoint(&["check"]);
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "# edited by the admin UI\n"
    );
}
