//! What each fuzz target does with its input: the same calls the daemon makes on a fetched
//! document, a configuration file or a webhook body. Any panic is a finding, including the
//! formatter's `debug_assert!` of its promises (`banditore::format::broken_promise`).

use banditore::config::{Config, Settings, SourceConfig, SourceKind};
use banditore::pipeline::preview::{preview, Filters};
use banditore::source::{page, ParseContext};
use chrono::{TimeZone, Utc};
use url::Url;

/// A document of `kind` as a poll reads it: charset, parse, plan, format; with the source's
/// default filters and without.
pub fn document(kind: SourceKind, data: &[u8]) {
    let Ok(base) = Url::parse("https://www.comune.example.it/notizie/") else {
        return;
    };
    let src = SourceConfig::adhoc("fuzz", kind, base.clone());
    let settings = Settings::default();
    let now = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).single();
    let Some(now) = now else { return };
    for filters in [Filters::None, Filters::Source] {
        let _ = preview(
            data,
            None,
            &src,
            &settings,
            Some(base.clone()),
            filters,
            now,
        );
    }
    if kind == SourceKind::Page {
        // A page's article, as a listing's links are read.
        let text = String::from_utf8_lossy(data);
        let ctx = ParseContext::new(Some(base), settings.tz());
        let _ = page::parse_article(&text, &ctx);
        let _ = page::looks_like_article(&text);
    }
}

/// A configuration file, as `check` and `run` read it.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text);
    }
}

/// A webhook body, once its signature has been checked.
pub fn webhook(data: &[u8]) {
    use banditore::http::inbound;
    if let Ok(event) = inbound::cloud_event(data) {
        for message in &event.messages {
            let _ = inbound::intent(&message.text);
        }
    }
    let _ = inbound::gateway_ack(data);
    let _ = inbound::intent(&String::from_utf8_lossy(data));
}
