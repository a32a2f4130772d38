//! Problems found in a configuration: where (the line of the key) and what, in words an
//! administrator understands.

use std::fmt;
use std::path::PathBuf;

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message)?,
            None => write!(f, "{}", self.message)?,
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Everything wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
    /// What is allowed but probably not meant, found beside the problems.
    pub warnings: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{}: {n} problem{}",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {}", p.to_string().replace('\n', "\n  "))?;
        }
        for w in &self.warnings {
            writeln!(f, "  warning: {}", w.to_string().replace('\n', "\n  "))?;
        }
        Ok(())
    }
}

/// A serde message about one key, in an administrator's words, with a hint when one helps.
/// The message reads after the key's name: "every must be …".
pub fn humanize(message: &str) -> (String, Option<String>) {
    let message = message.trim();
    let ticked: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    if message.starts_with("unknown field") {
        let wrong = ticked.first().copied().unwrap_or_default();
        let closest = ticked
            .iter()
            .skip(1)
            .map(|k| (strsim::jaro_winkler(wrong, k), *k))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| k);
        return (
            "is not a key this table takes".into(),
            Some(match closest {
                Some(k) => format!("did you mean {k}? every key is in docs/configuration.md"),
                None => "check the spelling; every key is in docs/configuration.md".into(),
            }),
        );
    }
    if message.starts_with("unknown variant") {
        let wrong = ticked.first().copied().unwrap_or_default();
        let accepted = ticked.get(1..).unwrap_or_default().join(", ");
        return (
            format!("cannot be {wrong:?}: it must be one of {accepted}"),
            None,
        );
    }
    if message.starts_with("missing field") {
        let field = ticked.first().copied().unwrap_or_default();
        return (format!("needs {field} too"), None);
    }
    let expected = message.rsplit("expected ").next().unwrap_or_default();
    let words = match expected.trim_end_matches('.') {
        "u8" | "u16" | "u32" | "u64" | "usize" => "must be a whole number ≥ 0, without quotes",
        "i8" | "i16" | "i32" | "i64" | "isize" => "must be a whole number, without quotes",
        "f32" | "f64" => "must be a number, without quotes (e.g. 3.5)",
        "a boolean" => "must be true or false, without quotes",
        "a string" => "must be text in double quotes",
        "a sequence" => "must be a list, e.g. [\"a\", \"b\"]",
        e if e.starts_with("struct") || e.contains("map") => {
            "must be a table, e.g. { key = \"value\" }"
        }
        _ => return (format!(": {message}"), None),
    };
    (words.to_owned(), None)
}

/// Finds lines in the configuration text.
pub struct Lines<'a> {
    text: &'a str,
    /// Byte offset of each line's start.
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Lines<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// The line of `key = …` inside a table's byte range; else the table's first line.
    pub fn key(&self, span: std::ops::Range<usize>, key: &str) -> Option<usize> {
        self.find_key(span.clone(), key)
            .or(Some(self.line_of(span.start)))
    }

    /// The line of `key = …` inside a byte range, when it is there.
    pub fn find_key(&self, span: std::ops::Range<usize>, key: &str) -> Option<usize> {
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        let start = span.start.min(self.text.len());
        let region = self.text.get(start..span.end.min(self.text.len()))?;
        let mut offset = 0;
        for line in region.split_inclusive('\n') {
            let trimmed = line.trim_start();
            let after = trimmed
                .strip_prefix(key)
                .or_else(|| trimmed.strip_prefix(&format!("\"{key}\"")));
            if after.is_some_and(|rest| rest.trim_start().starts_with('=')) {
                return Some(self.line_of(start + offset));
            }
            offset += line.len();
        }
        None
    }

    /// The line of the quoted value `"value"` inside a byte range; else the key's line.
    pub fn value(&self, span: std::ops::Range<usize>, key: &str, value: &str) -> Option<usize> {
        let start = span.start.min(self.text.len());
        let found = self
            .text
            .get(start..span.end.min(self.text.len()))
            .filter(|_| !value.is_empty())
            .and_then(|region| region.find(&format!("\"{value}\"")))
            .map(|i| self.line_of(start + i));
        found.or_else(|| self.key(span, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_words_become_an_administrators() {
        let cases = [
            (
                "invalid type: string \"5\", expected usize",
                "must be a whole number ≥ 0, without quotes",
            ),
            (
                "invalid value: integer `-1`, expected u64",
                "must be a whole number ≥ 0, without quotes",
            ),
            (
                "invalid type: integer `1`, expected a string",
                "must be text in double quotes",
            ),
            (
                "invalid type: string \"yes\", expected a boolean",
                "must be true or false, without quotes",
            ),
            (
                "invalid type: string \"x\", expected a sequence",
                "must be a list, e.g. [\"a\", \"b\"]",
            ),
            (
                "unknown variant `fed`, expected one of `feed`, `page`, `cap`, `quake`",
                "cannot be \"fed\": it must be one of feed, page, cap, quake",
            ),
        ];
        for (serde, ours) in cases {
            assert_eq!(humanize(serde).0, ours, "{serde}");
        }
        let (msg, hint) = humanize("unknown field `evry`, expected one of `name`, `every`, `cron`");
        assert_eq!(msg, "is not a key this table takes");
        assert!(hint.unwrap().contains("did you mean every?"));
    }

    #[test]
    fn lines_of_keys_and_values() {
        let text = "[[source]]\nname = \"a\"\n  url = \"x\"\n";
        let lines = Lines::new(text);
        assert_eq!(lines.key(0..text.len(), "url"), Some(3));
        assert_eq!(lines.key(0..text.len(), "every"), Some(1));
        assert_eq!(lines.value(0..text.len(), "name", "a"), Some(2));
    }
}
