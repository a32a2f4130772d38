use std::time::Duration;

use super::*;

const GOOD: &str = r#"
[settings]
timezone = "Europe/Rome"

[[source]]
name = "comune-notizie"
kind = "feed"
url = "https://www.comune.example.it/feed/"
every = "5m"

[[sink]]
name = "log"
kind = "file"
path = "data/messages.jsonl"
"#;

#[test]
fn accepts_the_contract_example() {
    let cfg = Config::parse(GOOD).expect("valid");
    assert_eq!(cfg.sources.len(), 1);
    assert!(matches!(cfg.sources[0].schedule, Schedule::Every(d) if d == Duration::from_secs(300)));
    assert_eq!(
        cfg.sources[0].url.as_str(),
        "https://www.comune.example.it/feed/"
    );
    assert!(matches!(cfg.sinks[0].settings, SinkSettings::File { .. }));
    assert!(cfg.warnings.is_empty());
}

fn problems(text: &str) -> Vec<Problem> {
    Config::parse(text).unwrap_err()
}

fn find<'a>(problems: &'a [Problem], needle: &str) -> &'a Problem {
    problems
        .iter()
        .find(|p| p.message.contains(needle))
        .unwrap_or_else(|| panic!("no problem says {needle:?}: {problems:#?}"))
}

#[test]
fn lists_every_problem_at_once_on_its_key_line() {
    let text = r#"
[settings]
max_new_per_poll = "ten"
concurrency = 0

[[source]]
name = "a"
kind = "feed"
url = "https://a.example/feed"
evry = "5m"
max_chars = "lots"
include = ["(unclosed"]

[[source]]
name = "b"
kind = "feed"
url = "not a url"

[[source]]
name = "b"
kind = "feed"
url = "https://b.example/"
cron = "every tuesday"

[[source]]
name = "Bad_Name"
kind = "feed"
url = "https://c.example/"

[[sink]]
name = "log"
kind = "file"
"#;
    let p = problems(text);
    let evry = find(&p, "evry is not a key");
    assert_eq!(evry.line, Some(10));
    assert!(evry
        .hint
        .as_deref()
        .unwrap()
        .contains("did you mean every?"));
    // A wrong type in a table hides neither the rest of that table nor the other tables.
    assert_eq!(
        find(&p, "max_chars must be a whole number ≥ 0").line,
        Some(11)
    );
    assert_eq!(find(&p, "include pattern \"(unclosed\"").line, Some(12));
    assert_eq!(
        find(&p, "[settings]: max_new_per_poll must be a whole number").line,
        Some(3)
    );
    assert_eq!(find(&p, "concurrency must be at least 1").line, Some(4));
    assert_eq!(
        find(&p, "\"not a url\" is not a valid address").line,
        Some(17)
    );
    assert!(find(&p, "used twice").line.is_some());
    assert_eq!(find(&p, "cron \"every tuesday\"").line, Some(23));
    find(&p, "Bad_Name");
    find(&p, "sink \"log\": needs path");
    // In the order of the file.
    let lines: Vec<usize> = p.iter().filter_map(|p| p.line).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn absurd_durations_are_refused() {
    let text = "[settings]\nmax_backoff = \"100000000d\"\n[[source]]\nname = \"a\"\nkind = \"feed\"\nurl = \"https://a.example/\"\nevery = \"9999999d\"\n[[sink]]\nname = \"c\"\nkind = \"console\"\n";
    let p = problems(text);
    assert_eq!(find(&p, "max_backoff must be between").line, Some(2));
    assert_eq!(find(&p, "every must be between").line, Some(7));
}

#[test]
fn syntax_errors_have_a_line() {
    let p = problems("[settings]\ntimezone = \n");
    assert_eq!(p[0].line, Some(2));
}

#[test]
fn unknown_kind_is_named_with_the_accepted_ones() {
    let p = problems("[[source]]\nname = \"x\"\nkind = \"fed\"\nurl = \"https://x.example/\"\n");
    let kind = find(
        &p,
        "cannot be \"fed\": it must be one of feed, page, cap, quake",
    );
    assert_eq!(kind.line, Some(3));
}

#[test]
fn wrong_brackets_do_not_hide_the_other_problems() {
    let p = problems(
        "[[settings]]\nconcurrency = 0\n\n[[source]]\nname = \"a\"\nurl = \"https://comune.example.it/feed\"\nexclude = [\"(\"]\n\n[sink]\nname = \"f\"\nkind = \"file\"\n",
    );
    assert_eq!(find(&p, "not [[settings]]").line, Some(1));
    assert_eq!(find(&p, "concurrency must be at least 1").line, Some(2));
    assert_eq!(find(&p, "not a valid regular expression").line, Some(7));
    assert_eq!(find(&p, "not [sink]").line, Some(9));
    assert_eq!(find(&p, "path").line, Some(9), "{p:#?}");
}

#[test]
fn tables_with_the_wrong_brackets_are_named() {
    let p = problems("[[settings]]\ntimezone = \"Europe/Rome\"\n");
    assert_eq!(
        p[0].message,
        "write [settings] (one table), not [[settings]]"
    );
    assert_eq!(p[0].line, Some(1));
    let p = problems("[source]\nname = \"x\"\n");
    assert_eq!(
        p[0].message,
        "write [[source]] (one per source), not [source]"
    );
    let p = problems("[sources]\nname = \"x\"\n");
    assert!(p[0].message.contains("sources is not a part"), "{p:?}");
}

#[test]
fn a_gateway_must_verify_its_acks() {
    let text = "[[sink]]\nname = \"canale\"\nkind = \"whatsapp-gateway\"\napi_base = \"http://127.0.0.1:3000\"\nchat_id = \"1@newsletter\"\n";
    find(&problems(text), "needs hmac_key_env");
}

#[test]
fn warns_about_what_is_allowed_but_not_meant() {
    let text = "[[source]]\nname = \"allerte\"\nkind = \"cap\"\nurl = \"https://allerte.example.it/rss\"\n\n[[sink]]\nname = \"wa\"\nkind = \"whatsapp-cloud\"\nphone_number_id = \"1\"\ntoken_env = \"T\"\napp_secret_env = \"S\"\nverify_token_env = \"V\"\n";
    let cfg = Config::parse(text).expect("valid");
    let w: Vec<&str> = cfg.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        w.iter()
            .any(|m| m.contains("every alert in the feed would be sent")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|m| m.contains("nobody can subscribe")),
        "{w:?}"
    );
    assert_eq!(cfg.warnings[0].line, Some(1));
}

#[test]
fn typed_values_come_out_parsed() {
    let text = "[settings]\ntimezone = \"Europe/Rome\"\nquiet_hours = \"21:00-07:30\"\nlocation = { lat = 45.1, lon = 10.0 }\n\n[[source]]\nname = \"terremoti\"\nkind = \"quake\"\nurl = \"https://webservices.ingv.it/fdsnws/event/1/query\"\nradius_km = 50\n\n[[source]]\nname = \"pagine\"\nkind = \"page\"\nurl = \"https://www.comune.example.it/novita\"\npreset = \"design-comuni\"\nselectors = { item = \".card\" }\ninclude = [\"(?i)acqua\"]\ncron = \"0 */5 * * * *\"\n\n[[sink]]\nname = \"c\"\nkind = \"console\"\n";
    let cfg = Config::parse(text).expect("valid");
    assert!(cfg.settings.quiet_hours.is_some());
    let quake = cfg.source("terremoti").unwrap();
    assert!(matches!(quake.settings, KindSettings::Quake { radius_km, .. } if radius_km == 50.0));
    assert!(matches!(quake.schedule, Schedule::Every(d) if d == DEFAULT_EMERGENCY_EVERY));
    let page = cfg.source("pagine").unwrap();
    assert!(matches!(page.schedule, Schedule::Cron(_)));
    assert!(page.include[0].is_match("ACQUA"));
    assert!(
        matches!(&page.settings, KindSettings::Page { preset: Preset::DesignComuni, selectors, .. } if selectors.item.as_deref() == Some(".card"))
    );
}

#[test]
fn one_source_per_address() {
    let text = "[[source]]\nname = \"notizie\"\nkind = \"feed\"\nurl = \"https://www.comune.example.it/feed/\"\n\n[[source]]\nname = \"doppione\"\nkind = \"feed\"\nurl = \"http://comune.example.it/feed\"\nforward = \"all\"\n\n[[sink]]\nname = \"c\"\nkind = \"console\"\n";
    let p = problems(text);
    let twice = find(
        &p,
        "source \"doppione\" follows the same address as source \"notizie\"",
    );
    assert_eq!(twice.line, Some(6));
}

#[test]
fn trusted_proxies_are_addresses_or_networks() {
    let sink = "[[sink]]\nname = \"c\"\nkind = \"console\"\n";
    let cfg = Config::parse(&format!(
        "[settings]\ntrusted_proxies = [\"127.0.0.1\", \"::1\", \"10.1.2.3/8\", \"::ffff:192.0.2.1\"]\n{sink}"
    ))
    .expect("valid");
    let nets: Vec<String> = cfg
        .settings
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        nets,
        ["127.0.0.1/32", "::1/128", "10.0.0.0/8", "192.0.2.1/32"]
    );
    assert!(Config::parse(sink)
        .expect("valid")
        .settings
        .trusted_proxies
        .is_empty());
    let p = problems(&format!(
        "[settings]\ntimezone = \"Europe/Rome\"\ntrusted_proxies = [\"127.0.0.1\", \"proxy.local\", \"10.0.0.0/33\"]\n{sink}"
    ));
    let named = find(&p, "trusted_proxies: \"proxy.local\" is neither");
    assert_eq!(named.line, Some(3));
    assert!(named.hint.as_deref().unwrap().contains("10.0.0.0/8"));
    find(&p, "\"10.0.0.0/33\" is neither");
    let p = problems(&format!(
        "[settings]\ntrusted_proxies = \"127.0.0.1\"\n{sink}"
    ));
    assert_eq!(find(&p, "trusted_proxies").line, Some(2));
}

#[test]
fn settings_that_would_break_everything_silently_are_refused() {
    let p = problems(
        "[settings]\nmax_new_per_poll = 0\nmax_body_bytes = 100\nfetch_timeout = \"1ms\"\nadmin_listen = \"localhost\"\nwebhook_listen = \"0.0.0.0:99999\"\n\n[[sink]]\nname = \"c\"\nkind = \"console\"\n",
    );
    assert_eq!(
        find(&p, "max_new_per_poll must be at least 1").line,
        Some(2)
    );
    assert_eq!(find(&p, "too small for any feed").line, Some(3));
    assert_eq!(find(&p, "fetch_timeout").line, Some(4));
    assert_eq!(
        find(&p, "admin_listen = \"localhost\" is not an address").line,
        Some(5)
    );
    assert_eq!(find(&p, "webhook_listen = \"0.0.0.0:99999\"").line, Some(6));
}

#[test]
fn a_token_pasted_for_a_variable_name_is_refused_and_not_repeated() {
    let token = "EAAGm0PX4ZCpsBAKZAsomething";
    let p = problems(&format!(
        "[[sink]]\nname = \"wa\"\nkind = \"whatsapp-cloud\"\nphone_number_id = \"1\"\ntoken_env = \"{token}\"\napp_secret_env = \"S\"\nverify_token_env = \"V\"\n"
    ));
    let problem = find(&p, "token_env must name an environment variable");
    assert_eq!(problem.line, Some(5));
    assert!(!format!("{p:?}").contains(token), "{p:?}");
}

#[test]
fn a_bad_address_is_shown_without_its_credentials() {
    let p = problems(
        "[[source]]\nname = \"s\"\nurl = \"htp://user:PASSSECRET@x/\"\n\n[[sink]]\nname = \"w\"\nkind = \"webhook\"\nurl = \"ftp://x/?token=TOKSECRET\"\nsecret_env = \"S\"\n",
    );
    let all = format!("{p:?}");
    assert!(
        !all.contains("PASSSECRET") && !all.contains("TOKSECRET"),
        "{all}"
    );
    find(&p, "scheme is not fetched");
}

#[test]
fn topics_and_zones_are_checked_with_their_lines() {
    let base = "[[source]]\nname = \"eventi\"\nkind = \"feed\"\nurl = \"https://comune.example.it/eventi/feed/\"\n\n[[sink]]\nname = \"c\"\nkind = \"console\"\n\n";
    let good = format!(
        "{base}[[topic]]\nname = \"eventi\"\nlabel = \"Eventi\"\nkeywords = [\"Eventi\"]\nsources = [\"eventi\"]\n\n[[zone]]\nname = \"san-rocco\"\nlabel = \"San Rocco\"\nwords = [\"San Rocco\"]\n"
    );
    let config = Config::parse(&good).unwrap();
    assert_eq!(config.audience.topics[0].keywords, ["Eventi"]);
    assert_eq!(config.audience.zones[0].name, "san-rocco");
    let bad = format!(
        "{base}[[topic]]\nname = \"eventi\"\nlabel = \"Eventi\"\nkeywords = [\"EVENTI\", \"stop\"]\nsources = [\"sagre\"]\n\n\
         [[zone]]\nname = \"San Rocco\"\nlabel = \"San Rocco\"\nwords = [\"eventi\"]\n\n\
         [[sink]]\nname = \"canale-eventi\"\nkind = \"console\"\ntopics = [\"sport\"]\n"
    );
    let p = problems(&bad);
    assert_eq!(find(&p, "\"stop\" is one of the words").line, Some(13));
    assert_eq!(find(&p, "\"sagre\", which is no [[source]]").line, Some(14));
    assert_eq!(find(&p, "zone name \"San Rocco\"").line, Some(17));
    find(&p, "\"eventi\" already chooses another topic or zone");
    find(&p, "topics names \"sport\", which is no [[topic]]");
}

#[test]
fn a_word_that_would_choose_two_topics_is_refused() {
    let base = "[[source]]\nname = \"eventi\"\nkind = \"feed\"\nurl = \"https://comune.example.it/eventi/feed/\"\n\n[[sink]]\nname = \"c\"\nkind = \"console\"\n\n";
    let bad = format!(
        "{base}[[topic]]\nname = \"sport\"\nlabel = \"Sport\"\nkeywords = [\"Città\"]\nsources = [\"eventi\"]\n\n\
         [[topic]]\nname = \"cultura\"\nlabel = \"Cultura\"\nkeywords = [\"CITTA\", \"grazie\", \"Sport\"]\nsources = [\"eventi\"]\n"
    );
    let p = problems(&bad);
    find(&p, "\"CITTA\" already chooses another topic or zone");
    find(&p, "\"grazie\" is one of the words");
    find(&p, "\"SPORT\" already chooses \"sport\"");
}
