//! The part of a source an admin decides in the UI, when adding it and later: how items are
//! forwarded (all, tagged, review), the CMS tags, the rhythm and, by kind, the alert area and
//! severity or the earthquake radius and magnitude. Read from and written to the source's own
//! `[[source]]` table with toml_edit: every other key, and every comment in the file, stays as
//! the admin wrote it. Checks here say what is wrong in Italian; the whole configuration is
//! then checked again by `Config::parse` before anything is written.

use std::collections::HashMap;

use maud::{html, Markup};

use crate::config::{Config, Forward, SourceKind};

/// The form's fields, as text (what the admin typed or what the file says).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    pub forward: String,
    /// Comma-separated.
    pub tags: String,
    /// `every`, e.g. "15m".
    pub every: String,
    /// Set when the source uses `cron`: the rhythm is then edited in the file.
    pub cron: Option<String>,
    /// Comma-separated `NAME:VALUE` pairs.
    pub geocodes: String,
    pub min_severity: String,
    pub radius_km: String,
    pub min_magnitude: String,
}

const FORWARDS: [(&str, &str); 3] = [
    ("review", "Da approvare: ogni notizia aspetta un redattore"),
    (
        "tagged",
        "Solo con un'etichetta: le notizie che la redazione marca nel sito",
    ),
    ("all", "Tutte: ogni notizia nuova parte da sola"),
];

const SEVERITIES: [(&str, &str); 4] = [
    ("Minor", "anche minori"),
    ("Moderate", "moderate o più gravi (consigliato)"),
    ("Severe", "gravi o estreme"),
    ("Extreme", "solo estreme"),
];

const EVERY: [(&str, &str); 6] = [
    (
        "",
        "predefinito (5 minuti; 1 minuto per allerte e terremoti)",
    ),
    ("1m", "ogni minuto"),
    ("5m", "ogni 5 minuti"),
    ("15m", "ogni 15 minuti"),
    ("30m", "ogni 30 minuti"),
    ("1h", "ogni ora"),
];

impl Fields {
    /// For a new source: review when other sources already go through review (a comune that
    /// reviews one source expects the next one reviewed too), else every item.
    pub fn for_new(config: &Config) -> Fields {
        let reviewed = config.sources.iter().any(|s| s.forward == Forward::Review);
        Fields {
            forward: if reviewed { "review" } else { "all" }.into(),
            ..Fields::default()
        }
    }

    pub fn from_form(form: &HashMap<String, String>) -> Fields {
        let field = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        Fields {
            forward: field("forward"),
            tags: field("tags"),
            every: field("every"),
            cron: None,
            geocodes: field("geocodes"),
            min_severity: field("min_severity"),
            radius_km: field("radius_km"),
            min_magnitude: field("min_magnitude"),
        }
    }

    pub fn from_table(table: &toml_edit::Table) -> Fields {
        let text = |k: &str| {
            table.get(k).map_or(String::new(), |v| match v.as_value() {
                Some(toml_edit::Value::String(s)) => s.value().clone(),
                Some(v) => v.to_string().trim().to_owned(),
                None => String::new(),
            })
        };
        let list = |k: &str| {
            table
                .get(k)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        Fields {
            forward: Some(text("forward"))
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| "all".into()),
            tags: list("tags"),
            every: text("every"),
            cron: Some(text("cron")).filter(|c| !c.is_empty()),
            geocodes: list("geocodes"),
            min_severity: text("min_severity"),
            radius_km: text("radius_km"),
            min_magnitude: text("min_magnitude"),
        }
    }

    /// Writes the fields into a source's table: an empty field removes its key (the default
    /// applies). Keys the form does not show are left alone.
    pub fn write(&self, table: &mut toml_edit::Table, kind: SourceKind) -> Result<(), String> {
        if !FORWARDS.iter().any(|(v, _)| *v == self.forward) {
            return Err("scegli come inoltrare le notizie".into());
        }
        let tags = split_list(&self.tags);
        if self.forward == "tagged" && tags.is_empty() {
            return Err(
                "con «solo con un'etichetta» scrivi almeno un'etichetta (come nel sito)".into(),
            );
        }
        set(
            table,
            "forward",
            Some(toml_edit::value(self.forward.as_str())),
        );
        set(table, "tags", (!tags.is_empty()).then(|| array(&tags)));
        if self.cron.is_none() {
            match humantime::parse_duration(&self.every) {
                _ if self.every.is_empty() => {}
                Err(_) => {
                    return Err(format!(
                        "«{}» non è un intervallo: scrivi per esempio 5m, 15m o 1h",
                        self.every
                    ))
                }
                // Reading a comune's site more than once a minute helps nobody.
                Ok(d) if d < std::time::Duration::from_secs(60) => {
                    return Err("leggere la fonte più di una volta al minuto non è permesso".into())
                }
                Ok(_) => {}
            }
            set(
                table,
                "every",
                (!self.every.is_empty()).then(|| toml_edit::value(self.every.as_str())),
            );
        }
        match kind {
            SourceKind::Cap => {
                let geocodes = split_list(&self.geocodes);
                if let Some(bad) = geocodes.iter().find(|g| !g.contains(':')) {
                    return Err(format!(
                        "«{bad}» non è un codice d'area: scrivi NOME:VALORE, per esempio EMMA_ID:IT003"
                    ));
                }
                set(
                    table,
                    "geocodes",
                    (!geocodes.is_empty()).then(|| array(&geocodes)),
                );
                if !self.min_severity.is_empty()
                    && !SEVERITIES.iter().any(|(v, _)| *v == self.min_severity)
                {
                    return Err("scegli da quale gravità inoltrare le allerte".into());
                }
                set(
                    table,
                    "min_severity",
                    (!self.min_severity.is_empty())
                        .then(|| toml_edit::value(self.min_severity.as_str())),
                );
            }
            SourceKind::Quake => {
                set(
                    table,
                    "radius_km",
                    number(&self.radius_km, "il raggio", 1.0..=2000.0)?,
                );
                set(
                    table,
                    "min_magnitude",
                    number(&self.min_magnitude, "la magnitudo minima", 0.0..=10.0)?,
                );
            }
            SourceKind::Feed | SourceKind::Page => {}
        }
        Ok(())
    }

    /// The inputs, for the add and the edit forms.
    pub fn render(&self, kind: SourceKind) -> Markup {
        html! {
            fieldset {
                legend { "Che cosa inoltrare" }
                @for (value, label) in FORWARDS {
                    label.scelta {
                        input type="radio" name="forward" value=(value) checked[self.forward == value];
                        " " (label)
                    }
                }
                label for="f-tags" { "Etichette (categorie del sito che vuol dire «manda su WhatsApp»), separate da virgole" }
                input #f-tags type="text" name="tags" value=(self.tags) placeholder="whatsapp, avvisi";
            }
            @match &self.cron {
                Some(cron) => p.meta { "Ritmo: " code { (cron) } " (cron; si modifica nel file di configurazione)." },
                None => {
                    label for="f-every" { "Ogni quanto leggere la fonte" }
                    select #f-every name="every" {
                        @for (value, label) in EVERY {
                            option value=(value) selected[self.every == value] { (label) }
                        }
                        @if !EVERY.iter().any(|(v, _)| *v == self.every) {
                            option value=(self.every) selected { (self.every) }
                        }
                    }
                }
            }
            @if kind == SourceKind::Cap {
                label for="f-geocodes" { "Codici dell'area del comune (NOME:VALORE, separati da virgole)" }
                input #f-geocodes type="text" name="geocodes" value=(self.geocodes) placeholder="EMMA_ID:IT003";
                label for="f-severity" { "Inoltra le allerte" }
                select #f-severity name="min_severity" {
                    option value="" selected[self.min_severity.is_empty()] { "predefinito (moderate o più gravi)" }
                    @for (value, label) in SEVERITIES {
                        option value=(value) selected[self.min_severity == value] { (label) }
                    }
                }
            }
            @if kind == SourceKind::Quake {
                label for="f-radius" { "Entro quanti km dal comune (predefinito 100)" }
                input #f-radius type="number" name="radius_km" min="1" max="2000" step="any" value=(self.radius_km);
                label for="f-magnitude" { "Da quale magnitudo (predefinito 3.0)" }
                input #f-magnitude type="number" name="min_magnitude" min="0" max="10" step="0.1" value=(self.min_magnitude);
            }
        }
    }
}

/// The `[[source]]` table named `name`.
pub fn source_table<'a>(
    doc: &'a mut toml_edit::DocumentMut,
    name: &str,
) -> Option<&'a mut toml_edit::Table> {
    doc.get_mut("source")?
        .as_array_of_tables_mut()?
        .iter_mut()
        .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name))
}

/// Removes the `[[source]]` table named `name`; whether it was there.
pub fn remove_source(doc: &mut toml_edit::DocumentMut, name: &str) -> bool {
    let Some(sources) = doc
        .get_mut("source")
        .and_then(|s| s.as_array_of_tables_mut())
    else {
        return false;
    };
    let before = sources.len();
    sources.retain(|t| t.get("name").and_then(|n| n.as_str()) != Some(name));
    sources.len() < before
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn array(items: &[String]) -> toml_edit::Item {
    toml_edit::value(
        items
            .iter()
            .map(String::as_str)
            .collect::<toml_edit::Array>(),
    )
}

fn number(
    text: &str,
    what: &str,
    range: std::ops::RangeInclusive<f64>,
) -> Result<Option<toml_edit::Item>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    match text.replace(',', ".").parse::<f64>() {
        Ok(n) if range.contains(&n) => Ok(Some(toml_edit::value(n))),
        _ => Err(format!(
            "{what} deve essere un numero fra {} e {}",
            range.start(),
            range.end()
        )),
    }
}

/// Sets or (with `None`) removes a key, keeping the key's comments when it stays.
fn set(table: &mut toml_edit::Table, key: &str, value: Option<toml_edit::Item>) {
    match value {
        Some(v) => {
            if let (Some(old), Some(new)) = (table.get_mut(key), v.as_value()) {
                if let Some(old) = old.as_value_mut() {
                    let decor = old.decor().clone();
                    *old = new.clone();
                    *old.decor_mut() = decor;
                    return;
                }
            }
            table[key] = v;
        }
        None => {
            table.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# fonti del comune\n[[source]]\nname = \"allerte\"\nkind = \"cap\"\nurl = \"https://a.example/cap\"\nevery = \"1m\" # non toccare\nlink = \"https://a.example/\"\n\n[[source]]\nname = \"notizie\"\nkind = \"feed\"\nurl = \"https://a.example/feed\"\nforward = \"review\"\n";

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn edits_only_the_form_keys_and_keeps_comments() {
        let mut doc: toml_edit::DocumentMut = FILE.parse().unwrap();
        let table = source_table(&mut doc, "allerte").unwrap();
        let before = Fields::from_table(table);
        assert_eq!(before.forward, "all");
        assert_eq!(before.every, "1m");
        let fields = Fields::from_form(&form(&[
            ("forward", "review"),
            ("every", "5m"),
            ("geocodes", "EMMA_ID:IT003, ISTAT:017067"),
            ("min_severity", "Severe"),
        ]));
        fields.write(table, SourceKind::Cap).unwrap();
        let out = doc.to_string();
        assert!(out.starts_with("# fonti del comune\n"), "{out}");
        assert!(out.contains("every = \"5m\" # non toccare"), "{out}");
        assert!(out.contains("link = \"https://a.example/\""));
        assert!(
            out.contains("geocodes = [\"EMMA_ID:IT003\", \"ISTAT:017067\"]"),
            "{out}"
        );
        let config = Config::parse(&format!(
            "{out}\n[[sink]]\nname = \"c\"\nkind = \"console\"\n"
        ));
        assert!(config.is_ok(), "{config:?}");
        // Read back, the form shows what was written.
        let mut doc: toml_edit::DocumentMut = out.parse().unwrap();
        let again = Fields::from_table(source_table(&mut doc, "allerte").unwrap());
        assert_eq!(again.geocodes, "EMMA_ID:IT003, ISTAT:017067");
        assert_eq!(again.min_severity, "Severe");
    }

    #[test]
    fn clearing_a_field_removes_its_key_and_bad_values_are_explained_in_italian() {
        let mut doc: toml_edit::DocumentMut = FILE.parse().unwrap();
        let table = source_table(&mut doc, "allerte").unwrap();
        Fields::from_form(&form(&[("forward", "all")]))
            .write(table, SourceKind::Cap)
            .unwrap();
        assert!(table.get("every").is_none());
        let err = Fields::from_form(&form(&[("forward", "tagged")]))
            .write(table, SourceKind::Feed)
            .unwrap_err();
        assert!(err.contains("etichetta"), "{err}");
        let err = Fields::from_form(&form(&[("forward", "all"), ("every", "spesso")]))
            .write(table, SourceKind::Feed)
            .unwrap_err();
        assert!(err.contains("non è un intervallo"), "{err}");
        let err = Fields::from_form(&form(&[("forward", "all"), ("radius_km", "-3")]))
            .write(table, SourceKind::Quake)
            .unwrap_err();
        assert!(err.contains("raggio"), "{err}");
    }

    #[test]
    fn new_sources_default_to_review_when_others_use_it() {
        let sink = "[[sink]]\nname = \"c\"\nkind = \"console\"\n";
        let reviewed = Config::parse(&format!("{FILE}{sink}")).unwrap();
        assert_eq!(Fields::for_new(&reviewed).forward, "review");
        let plain = Config::parse(sink).unwrap();
        assert_eq!(Fields::for_new(&plain).forward, "all");
    }

    #[test]
    fn removes_one_source() {
        let mut doc: toml_edit::DocumentMut = FILE.parse().unwrap();
        assert!(remove_source(&mut doc, "notizie"));
        assert!(!remove_source(&mut doc, "notizie"));
        let out = doc.to_string();
        assert!(out.contains("name = \"allerte\""));
        assert!(!out.contains("notizie"));
    }
}
