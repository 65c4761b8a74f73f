//! Keeps the architecture invariants of README.md true (after rust-analyzer's tidy test):
//! the engine does no IO, each IO crate has one home, every file says what it is for, and
//! the README's Quick start is the command CI runs.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with("//"))
}

#[test]
fn the_engine_does_no_io_and_reads_no_clock() {
    let banned = [
        "std::fs",
        "std::net",
        "std::process",
        "std::env",
        "std::time",
        "rusqlite",
        "reqwest",
        "slint",
        "tokio",
        "serialport",
        "keyring",
        "Utc::now",
        "Local::now",
        "thread_rng",
        "rand::rng()",
    ];
    for file in rust_files(&root().join("src/domain")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in code_lines(&text) {
            for b in banned {
                assert!(
                    !line.contains(b),
                    "{}: the domain must not use {b}: {line}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn each_io_crate_has_one_home() {
    // The server's database engines live behind its storage seam: no service names an
    // engine. On the terminal side each IO crate has exactly one module.
    let homes: [(&str, &[&str]); 11] = [
        ("serialport", &["src/scanner"]),
        ("keyring", &["src/secrets.rs"]),
        ("slint", &["src/ui"]),
        (
            "rusqlite",
            &["src/sqlite.rs", "src/store", "src/server/store/sqlite"],
        ),
        ("tokio_postgres", &["src/server/store/postgres"]),
        ("deadpool_postgres", &["src/server/store/postgres"]),
        (
            "reqwest",
            &[
                "src/sync",
                "src/server/sms/gateway.rs",
                "src/bridge/client.rs",
            ],
        ),
        ("axum", &["src/server", "src/bridge"]),
        ("csv", &["src/server/import"]),
        ("encoding_rs", &["src/server/import"]),
        ("calamine", &["src/server/import"]),
    ];
    for file in rust_files(&root().join("src")) {
        let rel = file
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        for (krate, home) in homes {
            if home.iter().any(|h| rel.starts_with(h)) {
                continue;
            }
            let uses = code_lines(&text)
                .any(|l| l.contains(&format!("{krate}::")) || l.contains(&format!("use {krate}")));
            assert!(!uses, "{rel} uses {krate}, whose home is {home:?}");
        }
    }
}

/// The till's modules in layers, bottom first: a module uses only modules of lower layers.
/// The server stands beside the till and uses only the shared ground (`SERVER_USES`); only
/// the top layer (the demo, the command line, the fleet simulator) may use both sides.
const LAYERS: &[&[&str]] = &[
    &[
        "domain",
        "clock",
        "crypto",
        "failpoint",
        "lang",
        "logging",
        "secrets",
        "sqlite",
    ],
    &["protocol", "scanner"],
    &["store"],
    &["sync"],
    &["terminal"],
    &["checkout"],
    &["setup"],
    &["bridge"],
    &["runner"],
    &["ui"],
    &["demo", "cli", "fleet"],
];
const SERVER_USES: &[&str] = &[
    "domain",
    "clock",
    "crypto",
    "failpoint",
    "lang",
    "logging",
    "sqlite",
    "protocol",
];

/// The top-level module a file under `src/` belongs to (`src/terminal/offline.rs` →
/// `terminal`), or `None` for the crate root and the binaries.
fn top_module(rel: &str) -> Option<String> {
    let rest = rel.strip_prefix("src/")?;
    let first = rest.split('/').next()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_string())
}

/// The crate's modules `text` names in code (`crate::sync::…`), comments left out.
fn crate_uses(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for line in code_lines(text) {
        for (i, _) in line.match_indices("crate::") {
            let name: String = line[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn dependencies_run_one_way() {
    let layer_of = |m: &str| LAYERS.iter().position(|layer| layer.contains(&m));
    let mut wrong = Vec::new();
    for file in rust_files(&root().join("src")) {
        let rel = file
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .to_string();
        let Some(module) = top_module(&rel) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for used in crate_uses(&text) {
            if used == module {
                continue;
            }
            let allowed = if module == "server" {
                SERVER_USES.contains(&used.as_str())
            } else {
                let Some(mine) = layer_of(&module) else {
                    panic!("{rel}: the module {module} has no layer in tests/tidy.rs");
                };
                let top = mine == LAYERS.len() - 1;
                match layer_of(&used) {
                    Some(theirs) => theirs < mine,
                    None => used == "server" && top,
                }
            };
            if !allowed {
                wrong.push(format!("{rel} uses crate::{used}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies against the layers (see LAYERS in tests/tidy.rs):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    for file in rust_files(&root().join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let is_test_module = file.file_name().is_some_and(|n| n == "tests.rs");
        assert!(
            is_test_module || text.starts_with("//!"),
            "{} has no //! doc saying what it is for",
            file.display()
        );
    }
}

#[test]
fn the_readme_quick_start_is_two_commands_and_ci_runs_its_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("## Quick start")
        .expect("README opens with a Quick start");
    assert!(
        readme[..start]
            .lines()
            .filter(|l| l.starts_with("## "))
            .count()
            == 0,
        "the Quick start comes first"
    );
    let block = readme[start..]
        .split("```")
        .nth(1)
        .expect("a code block under Quick start");
    let commands: Vec<&str> = block
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(commands.len(), 2, "exactly two commands: {commands:?}");
    assert!(
        commands[0].starts_with("cargo run --release"),
        "{commands:?}"
    );
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == commands[1]),
        ".ci/run must run the README's test command `{}`",
        commands[1]
    );
}

#[test]
fn no_real_phone_numbers_from_the_seed_manuals_in_fixtures() {
    // Demo and test phones live in the invented +7 999 range.
    for dir in ["assets/demo", "tests/fixtures"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (i, _) in text.match_indices("+7") {
                // A masked phone ("+7 *** ***-**-01") shows no number.
                let masked = text[i + 2..].trim_start().starts_with('*');
                if masked {
                    continue;
                }
                let digits: String = text[i + 2..]
                    .chars()
                    .filter(|c| c.is_ascii_digit())
                    .take(3)
                    .collect();
                assert_eq!(
                    digits,
                    "999",
                    "{}: demo phones are +7 999 …",
                    path.display()
                );
            }
        }
    }
}

/// The `@tr("…")` strings of every `.slint` file, each with the component it is written
/// in (Slint's translation context).
fn ui_strings() -> Vec<(String, String, String)> {
    fn slint_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                slint_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "slint") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    slint_files(&root().join("ui"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut component = String::new();
        for line in text.lines() {
            let code = line.trim_start();
            let code = code.strip_prefix("export ").unwrap_or(code);
            if let Some(rest) = code.strip_prefix("component ") {
                component = rest
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
            let mut rest = line;
            while let Some(at) = rest.find("@tr(\"") {
                let tail = &rest[at + 5..];
                let Some(end) = tail.find('"') else { break };
                out.push((
                    file.file_name().unwrap().to_string_lossy().to_string(),
                    component.clone(),
                    tail[..end].to_string(),
                ));
                rest = &tail[end..];
            }
        }
    }
    out
}

/// The (msgctxt, msgid) → msgstr entries of a catalogue; a plural entry's first form.
fn catalogue(lang: &str) -> std::collections::HashMap<(String, String), String> {
    let path = root().join(format!("assets/lang/{lang}/LC_MESSAGES/bonuskassa.po"));
    let text = std::fs::read_to_string(path).unwrap();
    let unquote = |l: &str, key: &str| {
        l.strip_prefix(key)
            .map(|v| v.trim().trim_matches('"').to_string())
    };
    let mut entries = std::collections::HashMap::new();
    let (mut ctxt, mut id) = (None, None);
    for line in text.lines() {
        if let Some(v) = unquote(line, "msgctxt ") {
            ctxt = Some(v);
        } else if let Some(v) = unquote(line, "msgid ") {
            id = Some(v);
        } else if let Some(v) = unquote(line, "msgstr ").or_else(|| unquote(line, "msgstr[0] "))
            && let (Some(c), Some(i)) = (ctxt.take(), id.take())
        {
            entries.insert((c, i), v);
        }
    }
    entries
}

#[test]
fn every_string_on_screen_is_in_both_catalogues_and_translated_to_english() {
    let (ru, en) = (catalogue("ru"), catalogue("en"));
    let mut missing = Vec::new();
    for (file, component, text) in ui_strings() {
        let key = (component.clone(), text.clone());
        if !ru.contains_key(&key) {
            missing.push(format!("ru: {file} {component} {text:?}"));
        }
        match en.get(&key) {
            Some(english) if !english.is_empty() => {}
            _ => missing.push(format!("en: {file} {component} {text:?}")),
        }
    }
    assert!(
        missing.is_empty(),
        "strings without a catalogue entry (msgctxt = the component):\n{}",
        missing.join("\n")
    );
}
