//! `banditore subscribers …`: the list of opted-in citizens. Only the number, the consent and
//! the topics and zones they chose are stored; import refuses any row without consent.

use std::io::{Read, Write};

use chrono::{DateTime, Utc};

use crate::audience::{Selection, EVERYTHING};
use crate::config::Audience;
use crate::phone::Phone;
use crate::store::{Store, StoreError, Subscriber};

/// One problem in an import file.
#[derive(Debug, PartialEq, Eq)]
pub struct ImportProblem {
    pub line: usize,
    pub message: String,
}

/// Reads a CSV with the header `phone,consented_at,consent_text` and, optionally, `topics`,
/// `zones` and `stopped` (names of `audience`'s topics and zones, separated by `;`; empty
/// topics: the default; `tutto`: everything; `stopped`: topics and zones stopped
/// explicitly). All or nothing: when any row is refused, nothing is imported and every refused
/// row is listed.
pub fn parse_import(
    input: impl Read,
    audience: &Audience,
) -> Result<Vec<(Phone, Subscriber)>, Vec<ImportProblem>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![ImportProblem {
                line: 1,
                message: e.to_string(),
            }])
        }
    };
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(phone_col), Some(at_col), Some(text_col)) =
        (col("phone"), col("consented_at"), col("consent_text"))
    else {
        return Err(vec![ImportProblem {
            line: 1,
            message: "the header must be phone,consented_at,consent_text".into(),
        }]);
    };
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(ImportProblem {
                    line,
                    message: e.to_string(),
                });
                continue;
            }
        };
        let field = |c: usize| record.get(c).unwrap_or_default().trim();
        let Some(phone) = Phone::written(field(phone_col)) else {
            problems.push(ImportProblem {
                line,
                message: format!("{:?} is not a phone number", field(phone_col)),
            });
            continue;
        };
        let Ok(at) = DateTime::parse_from_rfc3339(field(at_col)) else {
            let message = match field(at_col) {
                "" => format!("{phone}: no consent date — a row without consent is refused"),
                date => format!(
                    "{phone}: the consent date {date:?} is not a date and time with its zone (RFC 3339, e.g. 2025-11-01T10:00:00+01:00)"
                ),
            };
            problems.push(ImportProblem { line, message });
            continue;
        };
        if field(text_col).is_empty() {
            problems.push(ImportProblem {
                line,
                message: format!("{phone}: no consent text — a row without consent is refused"),
            });
            continue;
        }
        let names = |c: Option<usize>| -> Vec<String> {
            c.map(field)
                .unwrap_or_default()
                .split(';')
                .map(|n| n.trim().to_lowercase())
                .filter(|n| !n.is_empty())
                .collect()
        };
        let (topics, zones) = (names(col("topics")), names(col("zones")));
        let (stopped, stopped_zones): (Vec<String>, Vec<String>) = names(col("stopped"))
            .into_iter()
            .partition(|n| audience.topic(n).is_some());
        let unknown: Vec<&String> = topics
            .iter()
            .filter(|t| audience.topic(t).is_none() && t.as_str() != EVERYTHING)
            .chain(
                zones
                    .iter()
                    .chain(&stopped_zones)
                    .filter(|z| audience.zone(z).is_none()),
            )
            .collect();
        if !unknown.is_empty() {
            problems.push(ImportProblem {
                line,
                message: format!(
                    "{phone}: no topic or zone named {unknown:?} in the configuration"
                ),
            });
            continue;
        }
        rows.push((
            phone,
            Subscriber {
                consented_at: at.with_timezone(&Utc),
                consent_text: field(text_col).to_owned(),
                consent_message_id: None,
                last_inbound_at: None,
                selection: Selection {
                    topics,
                    zones,
                    stopped,
                    stopped_zones,
                    ..Selection::default()
                },
            },
        ));
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// Writes every subscriber as CSV, streaming from the store.
pub fn export(store: &Store, out: impl Write) -> Result<usize, anyhow::Error> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "phone",
        "consented_at",
        "consent_text",
        "topics",
        "zones",
        "stopped",
    ])?;
    let mut n = 0;
    for row in store.subscribers() {
        let (phone, s) = row?;
        writer.write_record([
            phone.as_str(),
            &s.consented_at.to_rfc3339(),
            &s.consent_text,
            &s.selection.topics.join(";"),
            &s.selection.zones.join(";"),
            &s.selection
                .stopped
                .iter()
                .chain(&s.selection.stopped_zones)
                .cloned()
                .collect::<Vec<_>>()
                .join(";"),
        ])?;
        n += 1;
    }
    writer.flush()?;
    Ok(n)
}

/// Imports parsed rows (keeping existing consents as they are).
pub fn import(store: &Store, rows: &[(Phone, Subscriber)]) -> Result<usize, StoreError> {
    let mut added = 0;
    for (phone, sub) in rows {
        if store.subscriber(phone)?.is_none() {
            store.subscribe(phone, sub)?;
            added += 1;
        }
    }
    store.flush()?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_requires_consent() {
        let ok = "phone,consented_at,consent_text\n+39 340 1234567,2025-11-01T10:00:00+01:00,modulo firmato allo sportello\n";
        let rows = parse_import(ok.as_bytes(), &Audience::default()).unwrap();
        assert_eq!(rows[0].0.as_str(), "393401234567");
        let bad = "phone,consented_at,consent_text\n393401234567,,\n39340,2025-11-01T10:00:00Z,x\n393409999999,2025-11-01T10:00:00Z,\n";
        let problems = parse_import(bad.as_bytes(), &Audience::default()).unwrap_err();
        assert_eq!(
            problems.iter().map(|p| p.line).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        assert!(parse_import("numero,data\n1,2\n".as_bytes(), &Audience::default()).is_err());
    }
}
