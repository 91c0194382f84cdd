//! The built-in game library (`data/games/`, embedded in the binary so that it works from
//! any directory) and [`load_game`], which takes either a path or a built-in name.
//!
//! A built-in spec is `NAME` or `NAME:KEY=VALUE[,KEY=VALUE…]`; only `penalty` takes a
//! parameter (`penalty:k=-25`, k ≤ 0, default −100).

use std::path::Path;

use crate::error::{Error, Result};
use crate::game::Game;
use crate::io::csv::{too_large, MAX_ABS_VALUE};
use crate::io::game_file::{file_policy, finish, read_game_file_with, FilePolicy};
use crate::io::labels::list;
use crate::io::manifest::{parse_manifest, Origin};
use crate::table::JointTable;

macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../data/games/", $name)))),*]
    };
}

/// Every file of the built-in library, by name.
static FILES: &[(&str, &str)] = embed!(
    "paper-table1.toml",
    "paper-table1.csv",
    "twentyone.toml",
    "twentyone.csv",
    "climbing.toml",
    "climbing.csv",
    "penalty.toml",
    "penalty.csv",
    "two-step.toml",
    "two-step-2B.csv",
    "qplex-1.toml",
    "qplex-1.csv",
    "qplex-2.toml",
);

struct Entry {
    name: &'static str,
    aliases: &'static [&'static str],
    manifest: &'static str,
    parameters: Option<&'static str>,
}

static ENTRIES: &[Entry] = &[
    Entry {
        name: "paper-table1",
        aliases: &[],
        manifest: "paper-table1.toml",
        parameters: None,
    },
    Entry {
        name: "twentyone",
        aliases: &["paper-figure2", "21-action"],
        manifest: "twentyone.toml",
        parameters: None,
    },
    Entry {
        name: "climbing",
        aliases: &[],
        manifest: "climbing.toml",
        parameters: None,
    },
    Entry {
        name: "penalty",
        aliases: &[],
        manifest: "penalty.toml",
        parameters: Some("k=<number <= 0> (default -100): the payoff of (a, c) and (c, a)"),
    },
    Entry {
        name: "two-step",
        aliases: &[],
        manifest: "two-step.toml",
        parameters: None,
    },
    Entry {
        name: "qplex-1",
        aliases: &[],
        manifest: "qplex-1.toml",
        parameters: None,
    },
    Entry {
        name: "qplex-2",
        aliases: &[],
        manifest: "qplex-2.toml",
        parameters: None,
    },
];

/// The penalty game's default k (the shipped table).
pub const PENALTY_DEFAULT_K: f64 = -100.0;

/// A built-in game's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinInfo {
    /// The name to load it by.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// The game's title (its manifest's `name`).
    pub title: String,
    /// Source citation.
    pub source: String,
    /// Free-text note.
    pub note: Option<String>,
    /// The parameters it accepts (`NAME:KEY=VALUE`), if any, in words.
    pub parameters: Option<&'static str>,
}

fn file_text(name: &str) -> &'static str {
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .expect("invariant: every entry's manifest is embedded")
}

/// The built-in games, in a fixed order.
pub fn builtins() -> Vec<BuiltinInfo> {
    ENTRIES
        .iter()
        .map(|e| {
            let doc: toml::Table = toml::from_str(file_text(e.manifest))
                .expect("invariant: built-in manifests parse (tested)");
            let text = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_string);
            BuiltinInfo {
                name: e.name,
                aliases: e.aliases,
                title: text("name").unwrap_or_else(|| e.name.to_string()),
                source: text("source").unwrap_or_default(),
                note: text("note"),
                parameters: e.parameters,
            }
        })
        .collect()
}

/// True when `spec` names a file rather than a built-in: the file exists, or the spec has a
/// path separator or a `.csv`/`.toml` extension.
pub fn is_path_spec(spec: &str) -> bool {
    let lower = spec.to_ascii_lowercase();
    Path::new(spec).exists()
        || spec.contains('/')
        || spec.contains('\\')
        || lower.ends_with(".csv")
        || lower.ends_with(".toml")
}

/// Loads a game from a path (see [`is_path_spec`]) or a built-in spec
/// `NAME[:KEY=VALUE,…]`. An unknown name is an [`Error::Input`] listing the built-ins. A
/// manifest's files are found under the process-wide [`crate::io::file_policy`].
pub fn load_game(spec: &str) -> Result<Game> {
    load_game_with(spec, file_policy())
}

/// [`load_game`] under an explicit [`FilePolicy`] for a manifest's files.
pub fn load_game_with(spec: &str, policy: FilePolicy) -> Result<Game> {
    if is_path_spec(spec) {
        read_game_file_with(Path::new(spec), policy)
    } else {
        load_builtin(spec)
    }
}

/// Levenshtein distance between `a` and `b` (by characters), for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Loads a built-in game by spec `NAME[:KEY=VALUE,…]` (never from the file system).
pub fn load_builtin(spec: &str) -> Result<Game> {
    let (name, params) = match spec.split_once(':') {
        Some((n, p)) => (n.trim(), p.trim()),
        None => (spec.trim(), ""),
    };
    let lname = name.to_ascii_lowercase();
    let Some(entry) = ENTRIES
        .iter()
        .find(|e| e.name == lname || e.aliases.contains(&lname.as_str()))
    else {
        let names: Vec<String> = ENTRIES.iter().map(|e| e.name.to_string()).collect();
        let near = ENTRIES
            .iter()
            .flat_map(|e| {
                std::iter::once(e.name)
                    .chain(e.aliases.iter().copied())
                    .map(move |a| (e.name, a))
            })
            .map(|(n, a)| (edit_distance(&lname, a), n))
            .min()
            .filter(|&(d, _)| d <= 2.max(lname.len() / 4));
        let hint = near
            .map(|(_, n)| format!("did you mean {n:?}? "))
            .unwrap_or_default();
        return Err(Error::input(
            spec,
            None,
            format!(
                "no such file, and {name:?} is not a built-in game ({hint}built-ins: {})",
                list(&names)
            ),
        ));
    };
    let pairs = parse_params(spec, params)?;
    let file = format!("<builtin {}>", entry.name);
    let mut game = parse_manifest(
        &file,
        file_text(entry.manifest),
        &Origin::Embedded(FILES),
        entry.name,
    )?;
    if entry.name == "penalty" {
        let mut k = None;
        for (key, value) in pairs {
            match key.as_str() {
                "k" => k = Some(parse_k(spec, &value)?),
                other => return Err(unknown_param(spec, entry, other)),
            }
        }
        if let Some(k) = k {
            game.states[0].payoff = penalty_payoff(k).map_err(|e| match e {
                Error::Invalid(m) => Error::input(spec, None, m),
                other => other,
            })?;
            game.name = penalty_name(k);
            game = finish(&file, game)?;
        }
    } else if let Some((key, _)) = pairs.first() {
        return Err(unknown_param(spec, entry, key));
    }
    Ok(game)
}

fn unknown_param(spec: &str, entry: &Entry, key: &str) -> Error {
    let msg = match entry.parameters {
        Some(p) => format!("{} has no parameter {key:?}; it takes {p}", entry.name),
        None => format!("{} takes no parameters (got {key:?})", entry.name),
    };
    Error::input(spec, None, msg)
}

/// `KEY=VALUE` pairs separated by commas; keys unique and lower-cased.
fn parse_params(spec: &str, params: &str) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    if params.is_empty() {
        return Ok(out);
    }
    for part in params.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            return Err(Error::input(
                spec,
                None,
                format!("parameter {:?} is not of the form KEY=VALUE", part.trim()),
            ));
        };
        let k = k.trim().to_ascii_lowercase();
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(Error::input(
                spec,
                None,
                format!("parameter {k:?} is given twice"),
            ));
        }
        out.push((k, v.trim().to_string()));
    }
    Ok(out)
}

fn parse_k(spec: &str, value: &str) -> Result<f64> {
    let k: f64 = value
        .parse()
        .map_err(|_| Error::input(spec, None, format!("k = {value:?} is not a number")))?;
    if !k.is_finite() {
        return Err(Error::input(
            spec,
            None,
            format!("k = {value:?} is not a finite number"),
        ));
    }
    if k > 0.0 {
        return Err(Error::input(
            spec,
            None,
            format!("k = {k} must be <= 0 (a penalty)"),
        ));
    }
    if k.abs() > MAX_ABS_VALUE {
        return Err(Error::input(
            spec,
            None,
            too_large(&format!("k = {}", value.trim())),
        ));
    }
    Ok(k)
}

/// The penalty game's title for a given k.
pub fn penalty_name(k: f64) -> String {
    format!("Penalty game (k = {k})")
}

/// The penalty game's payoff `[[10, 0, k], [0, 2, 0], [k, 0, 10]]` (actions a, b, c).
/// Errors unless `k` is finite and ≤ 0.
pub fn penalty_payoff(k: f64) -> Result<JointTable> {
    if !k.is_finite() || k > 0.0 {
        return Err(Error::Invalid(format!(
            "penalty k = {k} must be finite and <= 0"
        )));
    }
    JointTable::new(vec![3, 3], vec![10.0, 0.0, k, 0.0, 2.0, 0.0, k, 0.0, 10.0])
}

/// The 21-action game's payoff at `(a1, a2)` ∈ 0..21², as reconstructed from a public
/// re-implementation: with `y = a1` and `x = a2`,
/// `f1 = 5 − ((15−x)/3)² − ((5−y)/3)²`, `f2 = 10 − (5−x)² − (15−y)²`, `r = max(f1, f2, −10)`.
pub fn twentyone_payoff(a1: usize, a2: usize) -> f64 {
    let (y, x) = (a1 as f64, a2 as f64);
    let sq = |v: f64| v * v;
    let f1 = 5.0 - sq((15.0 - x) / 3.0) - sq((5.0 - y) / 3.0);
    let f2 = 10.0 - sq(5.0 - x) - sq(15.0 - y);
    f1.max(f2).max(-10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_loads_and_every_file_is_used() {
        for e in ENTRIES {
            let g = load_builtin(e.name).unwrap();
            assert!(!g.name.is_empty());
            assert!(g.source.is_some(), "{}", e.name);
        }
        // Every embedded file is referenced by some manifest or is one.
        for (n, _) in FILES {
            let used = ENTRIES.iter().any(|e| e.manifest == *n)
                || FILES
                    .iter()
                    .any(|(m, t)| m.ends_with(".toml") && t.contains(&format!("\"{n}\"")));
            assert!(used, "{n} is embedded but unused");
        }
    }

    #[test]
    fn params() {
        assert_eq!(
            parse_params("s", "k=1, K = 2").unwrap_err().to_string(),
            "s: parameter \"k\" is given twice"
        );
        assert!(parse_params("s", "k").is_err());
        assert!(parse_k("s", "0").is_ok());
        assert!(parse_k("s", "0.5").is_err());
        assert!(parse_k("s", "nan").is_err());
        assert!(penalty_payoff(1.0).is_err());
    }
}
