//! Admin alerts, decided: from facts about the sources, the sinks, the outbox and the review
//! queue (gathered by the daemon), what is wrong now, each with a stable key. A pure function:
//! the daemon compares its answer with the alerts it has already raised, tells the admins
//! about new ones once and about cleared ones once (`daemon::alerting`).

/// What the daemon knows of one source.
#[derive(Debug, Clone, Default)]
pub struct SourceFacts {
    pub name: String,
    pub url: String,
    /// Failed polls in a row, and the last one's reason (in Italian).
    pub failures: u32,
    pub last_error: Option<String>,
    /// A batch held by flood protection, waiting for an admin.
    pub held: usize,
    /// Paused by an admin: no alert for its failures.
    pub paused: bool,
    /// How long since a poll last found new items, and the source's usual gap between new
    /// items (once it has seen [`RHYTHM_GAPS`] of them).
    pub silent_for: Option<chrono::Duration>,
    pub rhythm: Option<chrono::Duration>,
    /// How long until the server's TLS certificate expires (negative: expired).
    pub certificate_left: Option<chrono::Duration>,
}

/// Gaps between new items seen before a source's rhythm is trusted.
pub const RHYTHM_GAPS: u32 = 3;

/// A source is silent when nothing new came for this many of its usual gaps, and at least
/// [`SILENT_AT_LEAST`].
const SILENT_GAPS: i32 = 10;
const SILENT_AT_LEAST: chrono::Duration = chrono::Duration::days(7);

/// A certificate that expires within this is worth telling: Let's Encrypt renews 30 days
/// before, so a certificate this close to its end is one whose renewal failed.
pub const CERTIFICATE_WARNING: chrono::Duration = chrono::Duration::days(14);

/// What the daemon knows of one sink (one that carries news).
#[derive(Debug, Clone, Default)]
pub struct SinkFacts {
    pub name: String,
    /// Paused by an account problem: why.
    pub paused: Option<String>,
    /// Failed requests since the last success, and the last one's words.
    pub failures: u32,
    pub last_error: Option<String>,
    /// Cannot send now, whatever is queued (a gateway whose session is not WORKING): why.
    pub unready: Option<String>,
}

/// Everything the alerts are decided from.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub sources: Vec<SourceFacts>,
    pub sinks: Vec<SinkFacts>,
    /// Messages waiting to be delivered.
    pub outbox: usize,
    /// Items waiting for review that expire within [`REVIEW_WARNING`].
    pub review_expiring: usize,
    /// A change of the configuration file refused: why (the daemon runs the one before).
    pub config_refused: Option<String>,
}

/// How long before an item waiting for review expires the editors are warned.
pub const REVIEW_WARNING: chrono::Duration = chrono::Duration::hours(2);

/// When something is worth an admin's attention.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Failed polls (or sends) in a row.
    pub failures: u32,
    /// Messages waiting in the outbox.
    pub outbox: usize,
}

/// One thing wrong now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// Stable while the same thing stays wrong ("source-failing:comune").
    pub key: String,
    /// One line, in Italian.
    pub title: String,
    pub detail: String,
    /// Where to look (the source's address), when there is one.
    pub url: Option<String>,
}

/// What is wrong, given `facts`.
pub fn alarms(facts: &Facts, limits: Thresholds) -> Vec<Alarm> {
    let mut out = Vec::new();
    for src in &facts.sources {
        if !src.paused && src.failures >= limits.failures {
            out.push(Alarm {
                key: format!("source-failing:{}", src.name),
                title: format!(
                    "La fonte «{}» non si legge: {}",
                    src.name,
                    attempts(src.failures)
                ),
                detail: src
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "errore sconosciuto".into()),
                url: Some(src.url.clone()),
            });
        }
        if let (Some(silent), Some(rhythm)) = (src.silent_for, src.rhythm) {
            let limit = (rhythm * SILENT_GAPS).max(SILENT_AT_LEAST);
            if !src.paused && src.failures < limits.failures && silent > limit {
                out.push(Alarm {
                    key: format!("source-silent:{}", src.name),
                    title: format!(
                        "La fonte «{}» non ha notizie nuove da {} giorni",
                        src.name,
                        silent.num_days()
                    ),
                    detail: format!(
                        "Di solito ne arrivano ogni {}: il sito ha cambiato l'indirizzo del feed o il modello delle pagine? Controlla la fonte in Fonti.",
                        roughly(rhythm)
                    ),
                    url: Some(src.url.clone()),
                });
            }
        }
        if src.held > 0 {
            out.push(Alarm {
                key: format!("source-held:{}", src.name),
                title: format!(
                    "La fonte «{}» è trattenuta: {} notizie nuove tutte insieme",
                    src.name, src.held
                ),
                detail: format!(
                    "Nulla è stato inviato. Nell'interfaccia (Fonti) rilasciale in revisione o scartale, oppure `banditore source release {name}` o `banditore source discard {name}`.",
                    name = src.name
                ),
                url: Some(src.url.clone()),
            });
        }
    }
    out.extend(certificates(&facts.sources));
    for sink in &facts.sinks {
        if let Some(why) = &sink.unready {
            out.push(Alarm {
                key: format!("sink-unready:{}", sink.name),
                title: format!("Il canale «{}» non può inviare", sink.name),
                detail: why.clone(),
                url: None,
            });
        }
        if let Some(why) = &sink.paused {
            out.push(Alarm {
                key: format!("sink-paused:{}", sink.name),
                title: format!("Il canale «{}» è in pausa", sink.name),
                detail: why.clone(),
                url: None,
            });
        } else if sink.failures >= limits.failures {
            out.push(Alarm {
                key: format!("sink-failing:{}", sink.name),
                title: format!(
                    "Il canale «{}» non consegna: {}",
                    sink.name,
                    attempts(sink.failures)
                ),
                detail: sink
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "errore sconosciuto".into()),
                url: None,
            });
        }
    }
    if let Some(why) = &facts.config_refused {
        out.push(Alarm {
            key: "config-refused".into(),
            title: "La configurazione modificata non è stata applicata".into(),
            detail: format!(
                "banditore continua con quella di prima; al prossimo riavvio non partirebbe. Correggi il file (banditore check dice dove): {why}"
            ),
            url: None,
        });
    }
    if facts.outbox >= limits.outbox {
        out.push(Alarm {
            key: "outbox".into(),
            title: format!("{} messaggi in attesa di consegna", facts.outbox),
            detail: "La coda cresce: un canale è lento, in errore o in pausa (vedi Consegne)."
                .into(),
            url: None,
        });
    }
    if facts.review_expiring > 0 {
        out.push(Alarm {
            key: "review-expiring".into(),
            title: format!(
                "{} notizie da approvare scadono presto",
                facts.review_expiring
            ),
            detail: "Senza una decisione della redazione non saranno inviate (Da approvare)."
                .into(),
            url: None,
        });
    }
    out
}

/// One alarm per server (several sources often share the comune's site) whose certificate
/// is about to expire.
fn certificates(sources: &[SourceFacts]) -> Vec<Alarm> {
    let mut hosts: Vec<(String, chrono::Duration, &str)> = Vec::new();
    for src in sources {
        let Some(left) = src.certificate_left.filter(|l| *l <= CERTIFICATE_WARNING) else {
            continue;
        };
        let Some(host) = url::Url::parse(&src.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
        else {
            continue;
        };
        if !hosts.iter().any(|(h, _, _)| *h == host) {
            hosts.push((host, left, &src.url));
        }
    }
    hosts
        .into_iter()
        .map(|(host, left, url)| Alarm {
            key: format!("certificate:{host}"),
            title: match left.num_days() {
                _ if left <= chrono::Duration::zero() => {
                    format!("Il certificato HTTPS di {host} è scaduto")
                }
                0 => format!("Il certificato HTTPS di {host} scade oggi"),
                1 => format!("Il certificato HTTPS di {host} scade domani"),
                d => format!("Il certificato HTTPS di {host} scade tra {d} giorni"),
            },
            detail: "Quando scade, né banditore né i cittadini potranno aprire il sito in sicurezza: avvisa chi gestisce il sito perché lo rinnovi (di solito si rinnova da solo 30 giorni prima: il rinnovo automatico non funziona).".into(),
            url: Some(url.to_owned()),
        })
        .collect()
}

/// "1 tentativo fallito", "3 tentativi falliti di fila".
fn attempts(n: u32) -> String {
    match n {
        1 => "1 tentativo fallito".into(),
        n => format!("{n} tentativi falliti di fila"),
    }
}

/// How long something lasted, in words: "12 minuti", "3 ore", "2 giorni".
pub fn lasted(d: chrono::Duration) -> String {
    match (d.num_minutes(), d.num_hours()) {
        (m, _) if m < 1 => "meno di un minuto".into(),
        (m, _) if m < 2 => "un minuto".into(),
        (m, _) if m < 120 => format!("{m} minuti"),
        (_, h) if h < 48 => format!("{h} ore"),
        _ => format!("{} giorni", d.num_days()),
    }
}

/// A gap in words: "3 ore", "2 giorni".
fn roughly(gap: chrono::Duration) -> String {
    match gap.num_hours() {
        h if h < 2 => "ora".into(),
        h if h < 48 => format!("{h} ore"),
        _ => format!("{} giorni", gap.num_days()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Thresholds = Thresholds {
        failures: 3,
        outbox: 100,
    };

    #[test]
    fn each_trouble_has_its_alarm_and_only_past_the_thresholds() {
        let mut facts = Facts {
            sources: vec![SourceFacts {
                name: "comune".into(),
                url: "https://comune.example.it/feed".into(),
                failures: 2,
                last_error: Some("il server ha risposto 503".into()),
                ..SourceFacts::default()
            }],
            sinks: vec![SinkFacts {
                name: "wa".into(),
                failures: 3,
                last_error: Some("code 131056: pair rate limit".into()),
                ..SinkFacts::default()
            }],
            outbox: 99,
            ..Facts::default()
        };
        let keys =
            |f: &Facts| -> Vec<String> { alarms(f, LIMITS).into_iter().map(|a| a.key).collect() };
        assert_eq!(keys(&facts), ["sink-failing:wa"]);
        facts.sources[0].failures = 3;
        facts.outbox = 100;
        facts.sinks[0].paused = Some("account bloccato".into());
        facts.review_expiring = 2;
        assert_eq!(
            keys(&facts),
            [
                "source-failing:comune",
                "sink-paused:wa",
                "outbox",
                "review-expiring"
            ]
        );
        let first = &alarms(&facts, LIMITS)[0];
        assert_eq!(first.detail, "il server ha risposto 503");
        // A source silent for ten times its rhythm, at least a week.
        let mut quiet = Facts {
            sources: vec![SourceFacts {
                name: "eventi".into(),
                silent_for: Some(chrono::Duration::days(9)),
                rhythm: Some(chrono::Duration::hours(20)),
                ..SourceFacts::default()
            }],
            ..Facts::default()
        };
        assert_eq!(keys(&quiet), ["source-silent:eventi"]);
        assert!(alarms(&quiet, LIMITS)[0].detail.contains("ogni 20 ore"));
        quiet.sources[0].rhythm = Some(chrono::Duration::days(1));
        assert!(keys(&quiet).is_empty(), "not yet ten gaps");
        // A source an admin paused is not news.
        facts.sources[0].paused = true;
        facts.sources[0].held = 14;
        assert_eq!(keys(&facts)[0], "source-held:comune");
    }

    #[test]
    fn a_certificate_near_its_end_is_one_alarm_per_server() {
        let on = |name: &str, url: &str, days: i64| SourceFacts {
            name: name.into(),
            url: url.into(),
            certificate_left: Some(chrono::Duration::days(days) + chrono::Duration::hours(1)),
            ..SourceFacts::default()
        };
        let facts = Facts {
            sources: vec![
                on("notizie", "https://comune.example.it/feed", 9),
                on("eventi", "https://comune.example.it/eventi", 9),
                on("meteo", "https://meteo.example.it/cap", 15),
                on("scuola", "https://scuola.example.it/", -3),
            ],
            ..Facts::default()
        };
        let found = alarms(&facts, LIMITS);
        let titles: Vec<&str> = found.iter().map(|a| a.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Il certificato HTTPS di comune.example.it scade tra 9 giorni",
                "Il certificato HTTPS di scuola.example.it è scaduto"
            ]
        );
        assert_eq!(found[0].key, "certificate:comune.example.it");
    }

    #[test]
    fn durations_read_as_words() {
        let said = |m: i64| lasted(chrono::Duration::minutes(m));
        assert_eq!(said(0), "meno di un minuto");
        assert_eq!(said(1), "un minuto");
        assert_eq!(said(45), "45 minuti");
        assert_eq!(said(150), "2 ore");
        assert_eq!(said(60 * 72), "3 giorni");
    }
}
