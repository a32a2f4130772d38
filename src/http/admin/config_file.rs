//! Writing the configuration file from the admin UI: one change at a time, on its toml_edit
//! document (comments and layout stay), checked whole before it is written (atomically) and
//! applied. Sources and people both go through here.

use super::Admin;
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
    // One change at a time: two saves at the same moment would each read the file and the
    // second would write over the first.
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = WRITING.lock().unwrap_or_else(|p| p.into_inner());
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("il file di configurazione non si legge: {e}"))?;
    change(&mut doc)?;
    let new_text = doc.to_string();
    let config = Config::parse(&new_text).map_err(|problems| {
        problems
            .iter()
            .map(|p| p.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, &new_text).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    admin
        .cell
        .replace(config)
        .map_err(|e| format!("salvata, ma non applicata: {e}"))
}
