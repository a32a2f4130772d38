//! Writing the configuration file from the admin UI: one change at a time, on its toml_edit
//! document (comments and layout stay), checked whole before it is written (atomically) and
//! applied. Sources and people both go through here.

use super::{config_words, Admin};
use crate::config::Config;

/// Changes the configuration file with `change` (on its toml_edit document), checks the
/// result, writes it (atomically) and applies it. The running configuration stays when any
/// step fails.
pub fn rewrite_config(
    admin: &Admin,
    change: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<(), String>,
) -> Result<(), String> {
    let Some(path) = admin.config_path.clone() else {
        return Err("questa istanza non ha un file di configurazione da aggiornare".into());
    };
    // One change at a time, also against `source add` on the command line: two saves at
    // the same moment would each read the file and the second would write over the first.
    let edited = crate::config::file::edit(&path, |text| {
        let mut doc = parse_config(&path, &text)?;
        change(&mut doc)?;
        let new_text = doc.to_string();
        // The check's words are English (the command line's); people read them in Italian.
        let config =
            Config::parse_at(&path, &new_text).map_err(|e| config_words::all(&e.problems))?;
        Ok((new_text, config))
    });
    let config = match edited {
        Ok(config) => config,
        Err(crate::config::file::EditError::Refused(why)) => return Err(why),
        Err(crate::config::file::EditError::Io(e)) => {
            tracing::error!(path = %path.display(), error = %e, "cannot write the configuration");
            return Err(format!(
                "non riesco a scrivere il file di configurazione {} (il motivo è nel registro del server)",
                path.display()
            ));
        }
    };
    admin.cell.replace(config).map_err(|e| {
        tracing::error!(error = %e, "the configuration was written but not applied");
        "salvata, ma non applicata: il motivo è nel registro del server".to_owned()
    })
}

/// The configuration file as a toml_edit document; why not, in Italian (the details in the log).
pub fn read_config(path: &std::path::Path) -> Result<toml_edit::DocumentMut, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "cannot read the configuration");
        format!(
            "non riesco a leggere il file di configurazione {} (il motivo è nel registro del server)",
            path.display()
        )
    })?;
    parse_config(path, &text)
}

fn parse_config(path: &std::path::Path, text: &str) -> Result<toml_edit::DocumentMut, String> {
    text.parse().map_err(|e| {
        tracing::error!(path = %path.display(), error = %e, "the configuration is not valid TOML");
        "il file di configurazione non è TOML valido: correggilo a mano («banditore check» dice dove)"
            .to_owned()
    })
}
