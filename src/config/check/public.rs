//! The citizens' page's settings against the rest: the sign-up's sink, the proxy, the
//! feeds' address.

use crate::config::problem::Problem;
use crate::config::{Settings, SinkConfig, SinkSettings};

pub(super) fn check(
    settings: &Settings,
    sinks: &[(SinkConfig, usize)],
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    if let Some(signup) = &settings.public.signup {
        let sink = sinks
            .iter()
            .find(|(s, _)| s.name == signup.sink)
            .map(|(s, _)| s);
        let problem = match sink.map(|s| &s.settings) {
            None => Some(format!(
                "public.signup names {:?}, which is no [[sink]]",
                signup.sink
            )),
            Some(SinkSettings::WhatsappCloud(_))
                if settings.alerts.sinks.contains(&signup.sink) =>
            {
                Some(format!(
                    "public.signup names {:?}, which sends admin alerts",
                    signup.sink
                ))
            }
            Some(SinkSettings::WhatsappCloud(_)) if settings.webhook_listen.is_none() => Some(
                "public.signup: without settings.webhook_listen the citizen's reply never arrives"
                    .into(),
            ),
            Some(SinkSettings::WhatsappCloud(_)) => None,
            Some(_) => Some(format!(
                "public.signup names {:?}, which is not a whatsapp-cloud sink",
                signup.sink
            )),
        };
        if let Some(message) = problem {
            problems.push(Problem {
                line: None,
                message,
                hint: Some(
                    "the Cloud API sink that broadcasts the news, with settings.webhook_listen set"
                        .into(),
                ),
            });
        }
    }
    if settings.public_listen.is_some() {
        let public = &settings.public;
        if public.channel_url.is_none() && public.whatsapp_number.is_none() {
            warnings.push(Problem {
                line: None,
                message: "public_listen: the citizens' page has no way to subscribe (public.channel_url, public.whatsapp_number)".into(),
                hint: Some("public = { name = \"Comune di Esempio\", channel_url = \"https://whatsapp.com/channel/…\", whatsapp_number = \"+39 0372 000000\" }".into()),
            });
        }
        let loopback = settings
            .public_listen
            .as_deref()
            .and_then(|l| l.trim().parse::<std::net::SocketAddr>().ok())
            .is_some_and(|a| a.ip().is_loopback());
        if public.signup.is_some() && loopback && settings.trusted_proxies.is_empty() {
            warnings.push(Problem {
                line: None,
                message: "public.signup behind a proxy on this machine without trusted_proxies: every citizen counts as one address, and ten sign-ups an hour are the whole town's".into(),
                hint: Some("trusted_proxies = [\"127.0.0.1\"] (the proxy's address: X-Forwarded-For is then read from it)".into()),
            });
        }
        if public.url.is_none() {
            warnings.push(Problem {
                line: None,
                message: "public_listen without public.url: the feeds' links use the address each request names (behind a proxy, perhaps the proxy's own), and the widget's code is not shown".into(),
                hint: Some("public = { url = \"https://avvisi.comune.example.it/\" }".into()),
            });
        }
    }
}
