//! Reading a game from a file: a CSV table (grid or long, detected from the header) or a TOML
//! manifest (see [`crate::io::manifest`]).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::game::{Agent, Game, Next, State};
use crate::io::csv::{short_number, too_large, Lexer, MAX_ABS_VALUE};
use crate::io::grid::parse_grid;
use crate::io::labels::LabeledTable;
use crate::io::long::{is_long_header, parse_long};
use crate::io::manifest::{parse_manifest, Origin, MAX_MANIFEST_BYTES};
use crate::io::text::{read_text, read_text_capped};
use crate::table::JointTable;

/// The label of the state of a game read from a single table.
pub const SINGLE_STATE_LABEL: &str = "s";

/// Which files a TOML manifest may name in `file` and `next_file` (see
/// [`crate::io::manifest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilePolicy {
    /// Only files inside the manifest's folder or below it, after `..` and symbolic links are
    /// resolved: a manifest cannot make the tool read `../../secret/creds.csv` or
    /// `/etc/passwd`. The default.
    #[default]
    ManifestFolder,
    /// Any path the manifest names (the command line's `--allow-outside-files`).
    Anywhere,
}

/// The process-wide policy: `true` for [`FilePolicy::Anywhere`].
static ANYWHERE: AtomicBool = AtomicBool::new(false);

/// Sets the [`FilePolicy`] of [`read_game_file`] and [`crate::io::load_game`] for the whole
/// process. Meant to be called once, at start-up, from the command line's flags; code that
/// needs another policy for one load calls [`read_game_file_with`] or
/// [`crate::io::load_game_with`] instead.
pub fn set_file_policy(policy: FilePolicy) {
    ANYWHERE.store(policy == FilePolicy::Anywhere, Ordering::Relaxed);
}

/// The process-wide [`FilePolicy`] (see [`set_file_policy`]); [`FilePolicy::ManifestFolder`]
/// unless set otherwise.
pub fn file_policy() -> FilePolicy {
    if ANYWHERE.load(Ordering::Relaxed) {
        FilePolicy::Anywhere
    } else {
        FilePolicy::ManifestFolder
    }
}

/// Reads a game from `path`: a `.toml` manifest, or else a grid or long CSV table (a matrix
/// game named after the file). The game passes [`Game::validate`]; every problem is an
/// [`Error::Input`] naming the file (and the line, when there is one) or an [`Error::Io`].
/// A manifest's files are found under the process-wide [`file_policy`].
pub fn read_game_file(path: &Path) -> Result<Game> {
    read_game_file_with(path, file_policy())
}

/// [`read_game_file`] under an explicit [`FilePolicy`].
pub fn read_game_file_with(path: &Path, policy: FilePolicy) -> Result<Game> {
    let file = path.display().to_string();
    let stem = path
        .file_stem()
        .map_or_else(|| file.clone(), |s| s.to_string_lossy().into_owned());
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_toml {
        let text = read_text_capped(path, MAX_MANIFEST_BYTES)?;
        let dir = path.parent().unwrap_or_else(|| Path::new(""));
        parse_manifest(&file, &text, &Origin::Dir(dir, policy), &stem)
    } else {
        let text = read_text(path)?;
        game_from_csv(&file, &stem, &text)
    }
}

/// Parses a CSV table: long when the last header cell is `reward` (case-insensitive),
/// otherwise a grid.
pub(crate) fn parse_table_csv(file: &str, text: &str) -> Result<LabeledTable> {
    let mut lexer = Lexer::new(file, text);
    let Some(header) = lexer.next_record()? else {
        return Err(Error::input(file, None, "the file is empty"));
    };
    if is_long_header(&header, "reward") {
        parse_long(&mut lexer, header)
    } else {
        parse_grid(&mut lexer, header)
    }
}

/// A matrix game from one CSV table. Agents are named by a long header, else `agent1`, ….
pub(crate) fn game_from_csv(file: &str, name: &str, text: &str) -> Result<Game> {
    let table = parse_table_csv(file, text)?;
    let names = table
        .names
        .clone()
        .unwrap_or_else(|| default_names(table.labels.len()));
    let shape = table.shape();
    let payoff = JointTable::new(shape, table.values).map_err(|e| as_input(file, None, e))?;
    let agents = names
        .into_iter()
        .zip(table.labels)
        .map(|(name, actions)| Agent { name, actions })
        .collect();
    let game = Game {
        name: name.to_string(),
        source: None,
        note: None,
        agents,
        states: vec![State {
            label: SINGLE_STATE_LABEL.into(),
            payoff,
            next: Next::Terminal,
        }],
        initial: 0,
        gamma: 1.0,
    };
    finish(file, game)
}

/// `agent1`, …, `agentN`.
pub(crate) fn default_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("agent{i}")).collect()
}

/// Turns an [`Error::Invalid`] into an [`Error::Input`] at `file`/`line`.
pub(crate) fn as_input(file: &str, line: Option<usize>, e: Error) -> Error {
    match e {
        Error::Invalid(m) => Error::input(file, line, m),
        other => other,
    }
}

/// Validates a loaded game, reporting problems against `file`: [`Game::validate`], and every
/// payoff at most [`MAX_ABS_VALUE`] in magnitude (the readers check each number as they read
/// it; this covers every way a game is put together, built-in parameters included).
pub(crate) fn finish(file: &str, game: Game) -> Result<Game> {
    game.validate().map_err(|e| as_input(file, None, e))?;
    for s in &game.states {
        if let Some(k) = s
            .payoff
            .values()
            .iter()
            .position(|v| v.abs() > MAX_ABS_VALUE)
        {
            let u = s.payoff.joint_action(k);
            return Err(Error::input(
                file,
                None,
                too_large(&format!(
                    "state {:?}: the payoff {} of joint action ({})",
                    s.label,
                    short_number(s.payoff.values()[k]),
                    game.joint_labels(&u).join(" ")
                )),
            ));
        }
    }
    Ok(game)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_format() {
        let g = game_from_csv("t.csv", "t", ",A,B\nx,1,2\ny,3,4\n").unwrap();
        assert_eq!(g.agents[0].name, "agent1");
        assert_eq!(g.agents[1].actions, vec!["A", "B"]);
        let g = game_from_csv("t.csv", "t", "p,q, REWARD \nx,A,1\nx,B,2\n").unwrap();
        assert_eq!(g.agents[1].name, "q");
        assert_eq!(g.shape(), vec![1, 2]);
        assert!(g.is_matrix());
        let e = game_from_csv("t.csv", "t", "").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn finish_bounds_every_payoff() {
        let mut g = game_from_csv("t.csv", "t", ",A,B\nx,1,2\n").unwrap();
        g.states[0].payoff.values_mut()[1] = -1e200;
        let e = finish("t.csv", g).unwrap_err().to_string();
        assert!(
            e.starts_with("t.csv: ")
                && e.contains("payoff -1e200 of joint action (x B) is too large"),
            "{e}"
        );
    }
}
