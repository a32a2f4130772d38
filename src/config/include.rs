//! `include = ["sources.d/*.toml"]`: more `[[source]]` tables from other files (patterns
//! relative to the main file, expanded with the `glob` crate, in name order), so that a
//! region or a consortium can keep each comune's sources in a file of its own. Included files
//! hold `[[source]]` tables only; the check reads them after the main file, and a problem in
//! one names its file and line. The admin UI and `source add` write the main file only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Problem;

/// The files the main file includes, in the order they are read.
pub fn files(path: &Path, text: &str) -> Result<Vec<PathBuf>, Vec<Problem>> {
    let Ok(top) = toml::from_str::<toml::Table>(text) else {
        return Ok(Vec::new()); // the check says what is wrong with the main file
    };
    let Some(patterns) = top.get("include").and_then(toml::Value::as_array) else {
        return Ok(Vec::new());
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for pattern in patterns.iter().filter_map(toml::Value::as_str) {
        let full = dir.join(pattern);
        match glob::glob(&full.to_string_lossy()) {
            Ok(paths) => {
                let mut found: Vec<PathBuf> = paths.flatten().filter(|p| p.is_file()).collect();
                found.sort();
                files.extend(found);
            }
            Err(e) => problems.push(Problem {
                line: None,
                message: format!("include: {pattern:?} is not a file pattern ({e})"),
                hint: Some("include = [\"sources.d/*.toml\"]".into()),
            }),
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

/// Where each included file starts in the combined text (its first line there).
pub type Starts = Vec<(PathBuf, usize)>;

/// The main file's text with the included files' tables after it, and where each included
/// file starts, for [`locate`].
pub fn combined(main: &str, included: &[PathBuf]) -> Result<(String, Starts), Vec<Problem>> {
    let mut text = main.to_owned();
    let mut starts = Vec::new();
    let mut problems = Vec::new();
    for file in included {
        let shown = file.display();
        let part = match std::fs::read_to_string(file) {
            Ok(part) => part,
            Err(e) => {
                problems.push(Problem {
                    line: None,
                    message: format!("{shown}: cannot read it: {e}"),
                    hint: None,
                });
                continue;
            }
        };
        // Keys with their places, so a problem names the line in the included file.
        let at = |offset: usize| part[..offset.min(part.len())].matches('\n').count() + 1;
        match toml::from_str::<BTreeMap<toml::Spanned<String>, serde::de::IgnoredAny>>(&part) {
            Ok(top) => {
                if let Some(key) = top.keys().find(|k| k.get_ref() != "source") {
                    problems.push(Problem {
                        line: None,
                        message: format!(
                            "{shown}, line {}: an included file holds [[source]] tables only, not {}",
                            at(key.span().start),
                            key.get_ref()
                        ),
                        hint: Some(
                            "keep [settings], [[sink]] and [[user]] in the main file".into(),
                        ),
                    });
                    continue;
                }
            }
            Err(e) => {
                let line = e.span().map(|s| format!(", line {}", at(s.start)));
                problems.push(Problem {
                    line: None,
                    message: format!(
                        "{shown}{}: not valid TOML: {}",
                        line.unwrap_or_default(),
                        e.message().trim()
                    ),
                    hint: None,
                });
                continue;
            }
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
        starts.push((file.clone(), text.lines().count() + 1));
        text.push_str(&part);
    }
    if problems.is_empty() {
        Ok((text, starts))
    } else {
        Err(problems)
    }
}

/// A problem found in the combined text, told in its own file's words.
pub fn locate(mut problem: Problem, starts: &[(PathBuf, usize)]) -> Problem {
    let Some(line) = problem.line else {
        return problem;
    };
    if let Some((file, start)) = starts.iter().rev().find(|(_, start)| line >= *start) {
        problem.message = format!(
            "{}, line {}: {}",
            file.display(),
            line - start + 1,
            problem.message
        );
        problem.line = None;
    }
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn included_sources_are_read_and_their_problems_located() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("sources.toml");
        std::fs::create_dir(dir.path().join("sources.d")).unwrap();
        std::fs::write(
            dir.path().join("sources.d/b.toml"),
            "[[source]]\nname = \"b\"\nkind = \"feed\"\nurl = \"https://b.example.it/feed\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sources.d/a.toml"),
            "[[source]]\nname = \"a\"\nkind = \"feed\"\nurl = \"https://a.example.it/feed\"\nevery = \"soon\"\n",
        )
        .unwrap();
        let text =
            "include = [\"sources.d/*.toml\"]\n[[sink]]\nname = \"out\"\nkind = \"console\"\n";
        let files = files(&main, text).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("a.toml"), "name order");
        let (whole, starts) = combined(text, &files).unwrap();
        assert!(whole.contains("a.example.it") && whole.contains("b.example.it"));
        let problem = Problem {
            line: Some(starts[0].1 + 4),
            message: "every: not a duration".into(),
            hint: None,
        };
        let located = locate(problem, &starts);
        assert_eq!(located.line, None);
        assert!(
            located
                .message
                .ends_with("a.toml, line 5: every: not a duration"),
            "{}",
            located.message
        );

        // Checked as the file at `main` is: its includes, and file sinks beside it.
        let with_file =
            format!("{text}\n[[sink]]\nname = \"f\"\nkind = \"file\"\npath = \"out.jsonl\"\n");
        let problems = crate::config::Config::parse_at(&main, &with_file)
            .err()
            .map(|e| e.problems)
            .unwrap_or_default();
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("a.toml, line 5")),
            "{problems:?}"
        );
        std::fs::write(dir.path().join("sources.d/a.toml"), "").unwrap();
        let config = crate::config::Config::parse_at(&main, &with_file).unwrap();
        assert_eq!(config.sources.len(), 1, "b.toml's");
        let file = config.sinks.iter().find_map(|s| match &s.settings {
            crate::config::SinkSettings::File { path } => Some(path.clone()),
            _ => None,
        });
        assert_eq!(file, Some(dir.path().join("out.jsonl")));

        std::fs::write(
            dir.path().join("sources.d/c.toml"),
            "# altre fonti\n\n[settings]\nconcurrency = 2\n",
        )
        .unwrap();
        let files = super::files(&main, text).unwrap();
        let refused = combined(text, &files).unwrap_err();
        assert!(
            refused[0].message.contains(
                "c.toml, line 3: an included file holds [[source]] tables only, not settings"
            ),
            "{:?}",
            refused[0]
        );
    }
}
