//! Mastodon: `POST {api_base}/api/v1/statuses` with the account's token, as Mastodon's API
//! documentation describes it (docs.joinmastodon.org/methods/statuses: `status`,
//! `visibility`, `language`; the `Idempotency-Key` header; the created Status's `id`).
//!
//! A status is plain text of at most [`MAX_STATUS`] characters, an address counting as
//! [`URL_LENGTH`] whatever its length: the title, as much of the text as fits (cut at a
//! sentence), and the official link. Every request carries the message's id as its
//! `Idempotency-Key`, so a request whose answer was lost is sent again safely: Mastodon
//! returns the status it already made (for an hour).
//!
//! An image goes with the status: fetched through the sources' fetcher (its address guard,
//! timeout and size cap), uploaded to `POST /api/v2/media` with its description (the alt
//! text) and attached by its id; when the instance is still processing it (202), asked again
//! at `GET /api/v1/media/:id` for a few seconds. An image that cannot be had never holds the
//! status back: it goes without. With `urgent_content_warning`, an urgent message's status
//! goes behind a content warning (`spoiler_text`) that names it.

use serde_json::{json, Value};

use super::secret::{Secret, Secrets};
use super::{BuildError, Receipt, SinkError, Why};
use crate::config::{MastodonConfig, SinkConfig};
use crate::fetch::{FetchOutcome, Fetcher, Validators};
use crate::item::Message;

/// How long after a request it is surely still safe to send it again under the same
/// `Idempotency-Key` (Mastodon keeps a key for an hour).
pub const KEY_MEMORY: chrono::Duration = chrono::Duration::minutes(50);
/// Mastodon's default limit on a status.
pub const MAX_STATUS: usize = 500;
/// What an address counts for, however long.
pub const URL_LENGTH: usize = 23;

/// An image larger than this is not uploaded (Mastodon's default limit for images).
const MAX_IMAGE: usize = 16 * 1024 * 1024;
/// How many times a processing upload is asked about, a second apart.
const PROCESSING_CHECKS: u32 = 5;

pub struct MastodonSink {
    name: String,
    base: String,
    token: Secret,
    visibility: String,
    content_warning: bool,
    client: reqwest::Client,
    /// Fetches the messages' images (the sources' fetcher).
    images: Fetcher,
}

impl std::fmt::Debug for MastodonSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MastodonSink")
            .field("name", &self.name)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The status for a message within `room` characters as Mastodon counts them (addresses
/// [`URL_LENGTH`]): its title line as formatted (a category's prefix and all), its
/// paragraphs as far as they fit (the last one cut at a word, addresses kept whole), and the
/// official link last; without the title when it is the content warning.
pub fn status(message: &Message, room: usize, with_title: bool) -> String {
    let plain = crate::format::styles::plain(&message.text);
    let link = if message.url.starts_with("http") {
        message.url.as_str()
    } else {
        ""
    };
    let mut lines = plain.lines().map(str::trim);
    let first = lines.by_ref().find(|l| !l.is_empty());
    let title = first.unwrap_or(message.title.trim());
    let rest = lines.collect::<Vec<_>>().join("\n");
    // Paragraphs, without the official link (it comes last).
    let paragraphs: Vec<String> = rest
        .split("\n\n")
        .map(|p| {
            p.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && *l != link)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|p| !p.trim().is_empty())
        .collect();
    let link_cost = if link.is_empty() { 0 } else { URL_LENGTH + 2 };
    let room = room.saturating_sub(link_cost);
    let mut out = if with_title {
        crate::text::truncate(title, room.saturating_sub(3).max(1))
    } else {
        String::new()
    };
    for paragraph in paragraphs {
        let sep = if out.is_empty() { 0 } else { 2 };
        let left = room.saturating_sub(counted(&out) + sep);
        let fits = counted(&paragraph) <= left;
        let cut = if fits {
            paragraph
        } else {
            match cut_to(&paragraph, left) {
                Some(cut) if left > 20 => cut,
                _ => break,
            }
        };
        if sep > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&cut);
        if !fits {
            break;
        }
    }
    if !link.is_empty() {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(link);
    }
    out
}

/// `text` cut at a word so that it and its "…" count at most `room`; `None` when not even
/// a word fits.
fn cut_to(text: &str, room: usize) -> Option<String> {
    let mut words: Vec<&str> = text.split(' ').collect();
    while !words.is_empty() {
        let cut = format!(
            "{}…",
            words.join(" ").trim_end_matches([',', ';', ':', ' '])
        );
        if counted(&cut) <= room {
            return Some(cut);
        }
        words.pop();
    }
    None
}

/// How long a status is for Mastodon: each address [`URL_LENGTH`].
pub fn counted(status: &str) -> usize {
    status
        .split_whitespace()
        .map(|w| {
            if w.starts_with("http://") || w.starts_with("https://") {
                URL_LENGTH
            } else {
                w.chars().count()
            }
        })
        .sum::<usize>()
        + status.chars().filter(|c| c.is_whitespace()).count()
}

impl MastodonSink {
    pub fn new(
        cfg: &SinkConfig,
        mastodon: &MastodonConfig,
        user_agent: &str,
        secrets: &Secrets,
        images: &Fetcher,
    ) -> Result<MastodonSink, BuildError> {
        Ok(MastodonSink {
            name: cfg.name.clone(),
            base: mastodon.api_base.as_str().trim_end_matches('/').to_owned(),
            token: Secret::resolve(secrets, &cfg.name, "token_env", &mastodon.token_env)?,
            visibility: mastodon.visibility.clone(),
            content_warning: mastodon.urgent_content_warning,
            client: super::http_client(cfg, user_agent)?,
            images: images.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The status's body; `media`, the uploaded image's id.
    pub fn body(&self, message: &Message, media: Option<&str>) -> Value {
        let warned = self.content_warning && message.priority == crate::config::Priority::Urgent;
        // Mastodon counts the warning and the status together.
        let warning = crate::text::truncate(message.title.trim(), 200);
        let room = if warned {
            MAX_STATUS.saturating_sub(warning.chars().count())
        } else {
            MAX_STATUS
        };
        let mut body = json!({
            "status": status(message, room, !warned),
            "visibility": self.visibility,
            "language": "it",
        });
        if let Some(id) = media {
            body["media_ids"] = json!([id]);
        }
        if warned {
            // The title says what it is ("Allerta arancione: …"); the status the rest.
            body["spoiler_text"] = json!(warning);
        }
        body
    }

    pub async fn send(&self, message: &Message) -> Result<Receipt, SinkError> {
        let media = match &message.image {
            Some(image) => match self.upload(image, &message.title).await {
                Ok(id) => id,
                Err(why) => {
                    tracing::warn!(sink = %self.name, message_id = %message.id, %why, "the status goes without its image");
                    None
                }
            },
            None => None,
        };
        let resp = self
            .client
            .post(format!("{}/api/v1/statuses", self.base))
            .bearer_auth(self.token.expose())
            .header("Idempotency-Key", &message.id)
            .json(&self.body(message, media.as_deref()))
            .send()
            .await
            // Sent again with the same key, a request that did arrive makes no second
            // status: whatever happened, trying again is safe.
            .map_err(|e| SinkError::NotSent(Why::from(e.without_url().to_string())))?;
        let status = resp.status();
        let json: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(Receipt {
                provider_id: json["id"].as_str().map(str::to_owned),
            });
        }
        let why = Why::http(
            status,
            format!(
                "Mastodon {}: {}",
                status.as_u16(),
                json["error"].as_str().unwrap_or("no description")
            ),
        );
        match status.as_u16() {
            // The status itself is refused (too long, empty): never accepted as it is.
            422 => Err(SinkError::Rejected(why)),
            // A revoked token (401), a suspended account (403): paused until an admin acts.
            401 | 403 => Err(SinkError::Paused(why)),
            // Limits (429), the instance's trouble (5xx): tried again with back-off under
            // the same key.
            _ => Err(SinkError::NotSent(why)),
        }
    }
}

impl MastodonSink {
    /// Uploads the image at `url` with `title` in its description: the attachment's id, or
    /// `None` when the instance is still processing it after a few seconds.
    async fn upload(&self, url: &str, title: &str) -> Result<Option<String>, String> {
        let url = url::Url::parse(url).map_err(|e| format!("image address: {e}"))?;
        let fetched = match self
            .images
            .get(&url, &Validators::default(), None)
            .await
            .map_err(|e| format!("image: {e}"))?
        {
            FetchOutcome::Fetched(f) => f,
            FetchOutcome::NotModified(_) => return Err("image: 304 to a plain request".into()),
        };
        let mime = fetched
            .content_type
            .as_deref()
            .and_then(|t| t.split(';').next())
            .map(str::trim)
            .filter(|t| t.starts_with("image/"))
            .ok_or("image: not an image")?
            .to_owned();
        if fetched.body.len() > MAX_IMAGE {
            return Err(format!("image: larger than {MAX_IMAGE} bytes"));
        }
        let name = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .filter(|n| !n.is_empty())
            .unwrap_or("immagine")
            .to_owned();
        let part = reqwest::multipart::Part::bytes(fetched.body.to_vec())
            .file_name(name)
            .mime_str(&mime)
            .map_err(|e| format!("image type: {e}"))?;
        let description = crate::text::truncate(&format!("Immagine: {}", title.trim()), 1500);
        let form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("description", description);
        let resp = self
            .client
            .post(format!("{}/api/v2/media", self.base))
            .bearer_auth(self.token.expose())
            .multipart(form)
            .send()
            .await
            .map_err(|e| format!("upload: {}", e.without_url()))?;
        let status = resp.status();
        let json: Value = resp.json().await.unwrap_or(Value::Null);
        let id = json["id"]
            .as_str()
            .filter(|_| status.is_success())
            .ok_or_else(|| format!("upload: Mastodon {}", status.as_u16()))?
            .to_owned();
        if status.as_u16() != 202 {
            return Ok(Some(id));
        }
        // Still processing: the status can take it once its `url` is there.
        for _ in 0..PROCESSING_CHECKS {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let resp = self
                .client
                .get(format!("{}/api/v1/media/{id}", self.base))
                .bearer_auth(self.token.expose())
                .send()
                .await
                .map_err(|e| format!("upload: {}", e.without_url()))?;
            if resp.status().as_u16() == 200 {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(title: &str, text: &str, url: &str) -> Message {
        Message {
            id: "m1".into(),
            source: "s".into(),
            kind: "feed".into(),
            title: title.into(),
            url: url.into(),
            text: text.into(),
            image: None,
            priority: crate::config::Priority::Normal,
            published: None,
            tags: vec![],
            extra: Default::default(),
        }
    }

    #[test]
    fn an_urgent_status_goes_behind_its_title_as_content_warning() {
        let cfg = SinkConfig {
            name: "m".into(),
            timeout: None,
            settings: crate::config::SinkSettings::Console,
            filter: Default::default(),
        };
        let mastodon = MastodonConfig {
            api_base: "https://social.example.it".parse().unwrap(),
            token_env: "T".into(),
            visibility: "unlisted".into(),
            urgent_content_warning: true,
        };
        let secrets = Secrets::Fixed([("T".to_owned(), "t".to_owned())].into());
        let limits = crate::fetch::FetchLimits {
            connect_timeout: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(1),
            max_body_bytes: 1000,
            concurrency: 1,
            per_host_concurrency: 1,
        };
        let images = Fetcher::new(limits, "test", crate::netguard::Guard::open()).unwrap();
        let sink = MastodonSink::new(&cfg, &mastodon, "test", &secrets, &images).unwrap();
        let mut alert = message(
            "Allerta arancione: piena del Po",
            "*Allerta arancione: piena del Po*\n\nNon sostare sugli argini.\n\nhttps://x.it/a",
            "https://x.it/a",
        );
        let news = sink.body(&alert, Some("7"));
        assert!(
            news.get("spoiler_text").is_none(),
            "a normal one goes as it is"
        );
        assert_eq!(news["media_ids"], serde_json::json!(["7"]));
        assert_eq!(news["visibility"], "unlisted");
        alert.priority = crate::config::Priority::Urgent;
        let urgent = sink.body(&alert, None);
        assert_eq!(urgent["spoiler_text"], "Allerta arancione: piena del Po");
        assert_eq!(
            urgent["status"], "Non sostare sugli argini.\n\nhttps://x.it/a",
            "the title is not said twice"
        );
    }

    #[test]
    fn a_long_urgent_status_and_its_warning_fit_together() {
        let title = "Allerta rossa per piena del fiume Po: evacuazione delle abitazioni lungo gli argini tra San Rocco e la frazione Ca' de' Soresini, disposta dal sindaco";
        let text = format!(
            "*⚠️ {title}*\n\nLasciate le abitazioni entro le 18. Punto di raccolta: palestra comunale di via Dante.\n\nInformazioni: https://comune.example.it/protezione-civile/numeri-utili-per-l-emergenza/ oppure 0372 000000.\n\n{}\n\nhttps://comune.example.it/allerta/\n\nComune di Esempio",
            "Seguite le indicazioni della protezione civile. ".repeat(12)
        );
        let m = message(title, &text, "https://comune.example.it/allerta/");
        let warning = crate::text::truncate(title, 200);
        let s = status(&m, MAX_STATUS - warning.chars().count(), false);
        assert!(
            counted(&s) + warning.chars().count() <= MAX_STATUS,
            "{} + {}: {s}",
            counted(&s),
            warning.chars().count()
        );
        assert!(s.starts_with("Lasciate le abitazioni entro le 18."), "{s}");
        assert!(
            s.contains("\n\nInformazioni: https://comune.example.it/protezione-civile/numeri-utili-per-l-emergenza/ oppure"),
            "paragraphs and links kept: {s}"
        );
        assert!(
            s.ends_with("…\n\nhttps://comune.example.it/allerta/"),
            "{s}"
        );
        // With a category's prefix, the title line as formatted, once.
        let with_prefix = message(
            "Lavori",
            "*🚧 Lavori in via Roma*\n\nChiusa da lunedì.\n\nhttps://x.it/a",
            "https://x.it/a",
        );
        assert_eq!(
            status(&with_prefix, MAX_STATUS, true),
            "🚧 Lavori in via Roma\n\nChiusa da lunedì.\n\nhttps://x.it/a"
        );
    }

    #[test]
    fn a_status_keeps_title_and_link_within_five_hundred() {
        let url = "https://comune.example.it/notizie/un-indirizzo-molto-lungo-che-conta-comunque-ventitre-caratteri/";
        let long = "Una frase della notizia, detta per esteso. ".repeat(30);
        let text = format!("*Chiusura di via Roma*\n\n{long}\n\n{url}\n\nComune di Esempio");
        let s = status(
            &message("Chiusura di via Roma", &text, url),
            MAX_STATUS,
            true,
        );
        assert!(s.starts_with("Chiusura di via Roma\n\nUna frase"), "{s}");
        assert!(s.ends_with(url), "{s}");
        assert!(counted(&s) <= MAX_STATUS, "{} in {s}", counted(&s));
        assert!(!s.contains('*'), "no WhatsApp markers: {s}");
        // A short one whole.
        let short = message(
            "Avviso",
            "*Avviso*\n\nBreve.\n\nhttps://x.it/a",
            "https://x.it/a",
        );
        assert_eq!(
            status(&short, MAX_STATUS, true),
            "Avviso\n\nBreve.\n\nhttps://x.it/a"
        );
        // Behind a content warning that is the title.
        assert_eq!(
            status(&short, MAX_STATUS, false),
            "Breve.\n\nhttps://x.it/a"
        );
    }
}
