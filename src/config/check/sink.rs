//! A `[[sink]]` and a `[[user]]`, checked.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use super::{name, Table};
use crate::config::problem::humanize;
use crate::config::raw::{RawSink, RawUser};
use crate::config::{
    CloudConfig, EmailConfig, GatewayConfig, MastodonConfig, SinkConfig, SinkSettings,
    TelegramConfig, UserConfig, WebhookConfig, MAX_MESSAGES_PER_SECOND,
};

/// The keys each kind of sink takes besides `name`, `kind` and `timeout`.
fn sink_keys(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "console" => &[],
        "file" => &["path"],
        "whatsapp-cloud" => &[
            "api_base",
            "api_version",
            "phone_number_id",
            "token_env",
            "app_secret_env",
            "verify_token_env",
            "template",
            "messages_per_second",
            "admins",
        ],
        "whatsapp-gateway" => &[
            "api_base",
            "session",
            "chat_id",
            "api_key_env",
            "hmac_key_env",
        ],
        "webhook" => &["url", "secret_env"],
        "telegram" => &["api_base", "token_env", "chat_id"],
        "mastodon" => &[
            "api_base",
            "token_env",
            "visibility",
            "urgent_content_warning",
        ],
        "email" => &[
            "smtp_host",
            "smtp_port",
            "tls",
            "username_env",
            "password_env",
            "from",
            "to",
            "bcc",
            "list_unsubscribe",
            "digest",
            "smtp",
        ],
        _ => return None,
    })
}

pub(super) fn sink(raw: RawSink, names: &mut HashSet<String>, t: &mut Table) -> Option<SinkConfig> {
    let name = name(raw.name.clone(), names, "sink", t);
    let kind = t.need(
        "kind",
        raw.kind.clone(),
        "kind = \"file\" (console, file, whatsapp-cloud, whatsapp-gateway, webhook, email, telegram or mastodon)",
    )?;
    let Some(allowed) = sink_keys(&kind) else {
        let (message, _) = humanize(&format!(
            "unknown variant `{kind}`, expected one of `console`, `file`, `whatsapp-cloud`, `whatsapp-gateway`, `webhook`, `email`, `telegram`, `mastodon`"
        ));
        t.problem("kind", format!("kind {message}"), None);
        return None;
    };
    let given = [
        ("path", raw.path.is_some()),
        ("api_base", raw.api_base.is_some()),
        ("api_version", raw.api_version.is_some()),
        ("phone_number_id", raw.phone_number_id.is_some()),
        ("token_env", raw.token_env.is_some()),
        ("app_secret_env", raw.app_secret_env.is_some()),
        ("verify_token_env", raw.verify_token_env.is_some()),
        ("template", raw.template.is_some()),
        ("messages_per_second", raw.messages_per_second.is_some()),
        ("admins", raw.admins.is_some()),
        ("session", raw.session.is_some()),
        ("chat_id", raw.chat_id.is_some()),
        ("api_key_env", raw.api_key_env.is_some()),
        ("hmac_key_env", raw.hmac_key_env.is_some()),
        ("url", raw.url.is_some()),
        ("secret_env", raw.secret_env.is_some()),
        ("visibility", raw.visibility.is_some()),
        (
            "urgent_content_warning",
            raw.urgent_content_warning.is_some(),
        ),
        ("smtp", raw.smtp.is_some()),
        ("smtp_host", raw.smtp_host.is_some()),
        ("smtp_port", raw.smtp_port.is_some()),
        ("tls", raw.tls.is_some()),
        ("username_env", raw.username_env.is_some()),
        ("password_env", raw.password_env.is_some()),
        ("from", raw.from.is_some()),
        ("to", raw.to.is_some()),
        ("bcc", raw.bcc.is_some()),
        ("list_unsubscribe", raw.list_unsubscribe.is_some()),
        ("digest", raw.digest.is_some()),
    ];
    for (key, present) in given {
        if present && !allowed.contains(&key) {
            t.problem(key, format!("{key} does not apply to a {kind} sink"), None);
        }
    }
    let timeout = t.duration(
        "timeout",
        raw.timeout.clone(),
        (Duration::from_secs(1), Duration::from_secs(3600)),
    );
    let mut raw = raw;
    // Any sink may take only some messages.
    let filter = crate::config::SinkFilter {
        only_priority: raw.only_priority.take(),
        tags: raw
            .tags
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect(),
        topics: raw.topics.take().unwrap_or_default(),
    };
    let settings = match kind.as_str() {
        "console" => Some(SinkSettings::Console),
        "file" => t
            .need("path", raw.path, "path = \"data/messages.jsonl\"")
            .map(|p| SinkSettings::File {
                path: PathBuf::from(p),
            }),
        "whatsapp-cloud" => {
            let mps = raw.messages_per_second.unwrap_or(20);
            if mps == 0 || mps > MAX_MESSAGES_PER_SECOND {
                t.problem(
                    "messages_per_second",
                    format!("messages_per_second must be between 1 and {MAX_MESSAGES_PER_SECOND}"),
                    Some("Meta allows 80 messages per second per phone number, 1000 on its higher tier"),
                );
            }
            let api_base = t.url(
                "api_base",
                raw.api_base
                    .as_deref()
                    .unwrap_or("https://graph.facebook.com"),
            );
            let phone = t.need(
                "phone_number_id",
                raw.phone_number_id,
                "phone_number_id = \"123456789012345\"",
            );
            let token = t.need_env(
                "token_env",
                raw.token_env,
                "token_env = \"WHATSAPP_TOKEN\" (the token itself stays in the environment)",
            );
            let secret = t.need_env(
                "app_secret_env",
                raw.app_secret_env,
                "app_secret_env = \"WHATSAPP_APP_SECRET\" (verifies webhook signatures)",
            );
            let verify = t.need_env(
                "verify_token_env",
                raw.verify_token_env,
                "verify_token_env = \"WHATSAPP_VERIFY_TOKEN\"",
            );
            let mut admins = Vec::new();
            for number in raw.admins.unwrap_or_default() {
                match crate::phone::Phone::parse(&number) {
                    Some(phone) => admins.push(phone),
                    None => t.problem(
                        "admins",
                        format!("admins: {number:?} is not a phone number"),
                        Some("admins = [\"+39 340 123 4567\"]"),
                    ),
                }
            }
            match (api_base, phone, token, secret, verify) {
                (
                    Some(api_base),
                    Some(phone_number_id),
                    Some(token_env),
                    Some(app_secret_env),
                    Some(verify_token_env),
                ) => Some(SinkSettings::WhatsappCloud(CloudConfig {
                    api_base,
                    api_version: raw.api_version.unwrap_or_else(|| "v23.0".into()),
                    phone_number_id,
                    token_env,
                    app_secret_env,
                    verify_token_env,
                    template: raw.template,
                    messages_per_second: mps,
                    admins,
                })),
                _ => None,
            }
        }
        "whatsapp-gateway" => {
            let api_base = t.need_url(
                "api_base",
                raw.api_base,
                "api_base = \"http://127.0.0.1:3000\"",
            );
            let chat_id = t.need(
                "chat_id",
                raw.chat_id,
                "chat_id = \"120363000000000000@newsletter\"",
            );
            let hmac = t.need_env(
                "hmac_key_env",
                raw.hmac_key_env,
                "hmac_key_env = \"WAHA_HMAC\": the key the gateway signs its webhooks with (acks without a valid signature are refused)",
            );
            let api_key_env = t.env_var("api_key_env", raw.api_key_env);
            match (api_base, chat_id, hmac) {
                (Some(api_base), Some(chat_id), Some(hmac_key_env)) => {
                    Some(SinkSettings::WhatsappGateway(GatewayConfig {
                        api_base,
                        session: raw.session.unwrap_or_else(|| "default".into()),
                        chat_id,
                        api_key_env,
                        hmac_key_env,
                    }))
                }
                _ => None,
            }
        }
        "email" => email(raw, t).map(SinkSettings::Email),
        "telegram" => telegram(raw, t).map(SinkSettings::Telegram),
        "mastodon" => {
            let api_base = t
                .need_url(
                    "api_base",
                    raw.api_base,
                    "api_base = \"https://social.comune.example.it\" (the instance)",
                )
                .and_then(|u| encrypted(u, t));
            let token_env = t.need_env(
                "token_env",
                raw.token_env,
                "token_env = \"MASTODON_TOKEN\" (an application's access token with write:statuses and write:media)",
            );
            let visibility = raw.visibility.unwrap_or_else(|| "public".into());
            if !matches!(visibility.as_str(), "public" | "unlisted" | "private") {
                t.problem(
                    "visibility",
                    format!("visibility = {visibility:?}: public, unlisted or private"),
                    None,
                );
            }
            match (api_base, token_env) {
                (Some(api_base), Some(token_env)) => Some(SinkSettings::Mastodon(MastodonConfig {
                    api_base,
                    token_env,
                    visibility,
                    urgent_content_warning: raw.urgent_content_warning.unwrap_or(false),
                })),
                _ => None,
            }
        }
        _ => {
            let url = t.need_url(
                "url",
                raw.url,
                "url = \"https://automation.example.it/hook\"",
            );
            let secret = t.need_env(
                "secret_env",
                raw.secret_env,
                "secret_env = \"WEBHOOK_SECRET\"",
            );
            match (url, secret) {
                (Some(url), Some(secret_env)) => {
                    Some(SinkSettings::Webhook(WebhookConfig { url, secret_env }))
                }
                _ => None,
            }
        }
    };
    Some(SinkConfig {
        name: name?,
        timeout,
        settings: settings?,
        filter,
    })
}

/// An e-mail sink's keys: the server (`smtp_host`, `smtp_port`, `tls = "starttls" | "tls" |
/// "none"`, none only to this machine; or one `smtp` URL), the credentials' variables, a
/// sender and at least one recipient.
fn email(raw: RawSink, t: &mut Table) -> Option<EmailConfig> {
    let smtp = match (raw.smtp, raw.smtp_host) {
        (Some(_), Some(_)) => {
            t.problem(
                "smtp",
                "smtp and smtp_host say the same thing twice: keep smtp_host (with smtp_port and tls)",
                None,
            );
            return None;
        }
        (Some(url), None) => smtp_url(&url, t)?,
        (None, host) => {
            let host = t.need("smtp_host", host, "smtp_host = \"smtp.comune.esempio.it\"")?;
            let tls = raw.tls.as_deref().map(str::trim).unwrap_or("starttls");
            let (scheme, default_port, query) = match tls {
                "starttls" => ("smtp", 587, "?tls=required"),
                "tls" => ("smtps", 465, ""),
                "none" => ("smtp", 25, ""),
                other => {
                    t.problem(
                        "tls",
                        format!("tls = {other:?}: starttls, tls or none"),
                        Some("tls = \"starttls\" (port 587) or \"tls\" (port 465)"),
                    );
                    return None;
                }
            };
            let port = raw.smtp_port.unwrap_or(default_port);
            let host = host.trim();
            let shown = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host.to_owned()
            };
            match url::Url::parse(&format!("{scheme}://{shown}:{port}{query}")) {
                Ok(url) if url.host_str().is_some() => url,
                _ => {
                    t.problem(
                        "smtp_host",
                        format!("smtp_host = {host:?} is not a host name"),
                        None,
                    );
                    return None;
                }
            }
        }
    };
    let tls = smtp.scheme() == "smtps"
        || smtp
            .query_pairs()
            .any(|(k, v)| k == "tls" && v == "required");
    // An smtp:// host is not parsed as an address by `url` (not a special scheme).
    let local = smtp.host_str().is_some_and(|h| {
        h == "localhost"
            || h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if !tls && !local {
        t.problem(
            "tls",
            "the mail server would get the mail and the password unencrypted",
            Some("tls = \"starttls\" or \"tls\"; tls = \"none\" only to a relay on this machine (127.0.0.1)"),
        );
    }
    let username_env = t.env_var("username_env", raw.username_env);
    let password_env = t.env_var("password_env", raw.password_env);
    let from = t.need(
        "from",
        raw.from,
        "from = \"Comune di Esempio <notizie@comune.esempio.it>\"",
    );
    let bcc = raw.bcc.unwrap_or_default();
    let to = match raw.to {
        // A list kept as BCC needs no visible recipient.
        None if !bcc.is_empty() => Some(Vec::new()),
        to => t.need("to", to, "to = [\"ced@comune.esempio.it\"]"),
    };
    let addresses = [("from", from.iter().collect::<Vec<_>>())]
        .into_iter()
        .chain([
            ("to", to.iter().flatten().collect()),
            ("bcc", bcc.iter().collect()),
        ]);
    for (key, list) in addresses {
        for address in list {
            if address.parse::<lettre::message::Mailbox>().is_err() {
                t.problem(key, format!("{address:?} is not an e-mail address"), None);
            }
        }
    }
    if to.as_ref().is_some_and(Vec::is_empty) && bcc.is_empty() {
        t.problem("to", "to needs at least one address (or bcc a list)", None);
    }
    let list_unsubscribe = raw.list_unsubscribe.map(|u| u.trim().to_owned());
    if let Some(u) = &list_unsubscribe {
        let fine = url::Url::parse(u).is_ok_and(|url| match url.scheme() {
            "https" => url.host_str().is_some(),
            "mailto" => url.path().contains('@'),
            _ => false,
        });
        if !fine {
            t.problem(
                "list_unsubscribe",
                format!("list_unsubscribe = {u:?} is neither a mailto: nor an https: address"),
                Some(
                    "list_unsubscribe = \"mailto:newsletter@comune.esempio.it?subject=cancellami\"",
                ),
            );
        }
    }
    let digest = match raw.digest.as_deref().map(str::trim) {
        None => None,
        Some(at) => match chrono::NaiveTime::parse_from_str(at, "%H:%M") {
            Ok(time) => Some(time),
            Err(_) => {
                t.problem(
                    "digest",
                    format!("digest = {at:?} is not a time of day"),
                    Some("digest = \"18:00\" (one mail a day with the day's news)"),
                );
                None
            }
        },
    };
    Some(EmailConfig {
        digest,
        smtp,
        username_env,
        password_env,
        from: from?,
        to: to?,
        bcc,
        list_unsubscribe,
    })
}

/// A Telegram sink's keys: the Bot API's address, the token's variable, the chat.
fn telegram(raw: RawSink, t: &mut Table) -> Option<TelegramConfig> {
    let api_base = t
        .url(
            "api_base",
            raw.api_base
                .as_deref()
                .unwrap_or("https://api.telegram.org"),
        )
        .and_then(|u| encrypted(u, t));
    let token_env = t.need_env(
        "token_env",
        raw.token_env,
        "token_env = \"TELEGRAM_TOKEN\" (the bot's token, from @BotFather, stays in the environment)",
    );
    let chat_id = t.need("chat_id", raw.chat_id, "chat_id = \"@comune_esempio\"")?;
    let chat_id = chat_id.trim().to_owned();
    let named = chat_id
        .strip_prefix('@')
        .is_some_and(|n| n.len() >= 4 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    let numeric = chat_id
        .strip_prefix('-')
        .unwrap_or(&chat_id)
        .chars()
        .all(|c| c.is_ascii_digit())
        && !chat_id.trim_start_matches('-').is_empty();
    if !named && !numeric {
        t.problem(
            "chat_id",
            format!("chat_id = {chat_id:?} is neither a @name nor a numeric id"),
            Some("chat_id = \"@comune_esempio\" (the channel's public name) or \"-1001234567890\""),
        );
        return None;
    }
    Some(TelegramConfig {
        api_base: api_base?,
        token_env: token_env?,
        chat_id,
    })
}

/// A provider's address that carries a token: https, or plain http only on this machine (a
/// local proxy, a test double).
fn encrypted(url: url::Url, t: &mut Table) -> Option<url::Url> {
    let local = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() == "https" || local {
        return Some(url);
    }
    t.problem(
        "api_base",
        format!(
            "api_base = {:?}: the token would travel unencrypted",
            url.as_str()
        ),
        Some("an https:// address (plain http only to 127.0.0.1)"),
    );
    None
}

/// `smtp = "smtps://user@host"`: lettre's connection URL (the form before `smtp_host`).
fn smtp_url(raw: &str, t: &mut Table) -> Option<url::Url> {
    let example = "smtp_host = \"smtp.comune.esempio.it\", tls = \"tls\"";
    let smtp = match url::Url::parse(raw.trim()) {
        Ok(url) => url,
        Err(e) => {
            // Not repeated: it may hold a password.
            t.problem(
                "smtp",
                format!("smtp is not a valid address ({e})"),
                Some(example),
            );
            return None;
        }
    };
    if !matches!(smtp.scheme(), "smtp" | "smtps") {
        t.problem("smtp", "smtp must be an smtp:// or smtps:// address", None);
        return None;
    }
    if smtp.password().is_some() {
        t.problem(
            "smtp",
            "the password does not go in the configuration",
            Some("password_env = \"SMTP_PASSWORD\", the password in that variable"),
        );
    }
    Some(smtp)
}

pub(super) fn user(raw: RawUser, names: &mut HashSet<String>, t: &mut Table) -> Option<UserConfig> {
    let name = t.need("name", raw.name, "name = \"redazione\"");
    let role = t.need("role", raw.role, "role = \"editor\" (or \"admin\")");
    let hash = t.need(
        "password_hash",
        raw.password_hash,
        "create one with `banditore hash-password`",
    );
    if let Some(n) = &name {
        if n.trim().is_empty() || !names.insert(n.clone()) {
            t.problem(
                "name",
                format!("user name {n:?} is empty or used twice"),
                None,
            );
        }
    }
    if let Some(h) = &hash {
        if argon2::PasswordHash::new(h).is_err() {
            t.problem(
                "password_hash",
                "password_hash is not an argon2 hash",
                Some("create one with `banditore hash-password`; never write the password itself"),
            );
            return None;
        }
    }
    Some(UserConfig {
        name: name?,
        role: role?,
        password_hash: hash?,
        disabled: raw.disabled.unwrap_or(false),
    })
}
