//! Reading games and factorizations from files, and the built-in game library.
//!
//! # Game files
//! - **Grid CSV** (two agents, [`grid`]): the first line is a corner cell (any text, may be
//!   empty) then agent 2's action labels; each further line is one of agent 1's labels then
//!   its payoffs. Agents are named `agent1`, `agent2` unless a manifest names them.
//! - **Long CSV** (any N ≥ 1, [`long`]): a header naming one column per agent and a last
//!   column `reward`, then one row per joint action, each exactly once. Agent names are the
//!   header cells; each agent's labels are taken in order of first appearance.
//! - A CSV file is long iff the last header cell is `reward` (case-insensitive, trimmed).
//! - **TOML manifest** (`.toml`, [`manifest`]): name, source, note, γ, agent names, action
//!   labels and the states, each with a CSV `file` or an inline `payoff` and its transitions
//!   (`next`, `next_file`). A single-state manifest gives a CSV table a name and a citation.
//!   The files a manifest names must lie in its folder or below it (after resolving `..` and
//!   symbolic links) unless the [`FilePolicy`] is [`FilePolicy::Anywhere`] (the command line's
//!   `--allow-outside-files`, set once for the process with [`set_file_policy`]).
//!
//! CSV input may have a UTF-8 byte order mark, CRLF line ends, spaces around cells, RFC 4180
//! quoted cells and blank lines ([`csv`]). Action labels are non-empty, unique per agent and
//! free of whitespace (joint actions are written as labels separated by spaces).
//!
//! # Other files
//! - **Factorizations** ([`factorization`]): `[method,seed,]state,table,agent,actions,value`.
//! - **Weights** ([`weights`]): agent columns, optional first `state` column, last `weight`.
//!
//! # Bad input
//! Every malformed file gives an [`crate::Error::Input`] naming the file, the line when there
//! is one, and the problem; nothing here panics on input. A message quotes a cell of the file
//! only as its [`excerpt`]: at most [`EXCERPT_CHARS`] characters, escaped. Only regular files
//! are read: directories, FIFOs, sockets and devices are refused before they are opened.
//! Numbers (payoffs, weights, learned values) must be finite and at most [`MAX_ABS_VALUE`] =
//! 10¹⁰⁰ in magnitude, so that their squares and sums of squares stay finite. A header that
//! is one cell holding `;` or tabs is told that qfactor reads commas only; a column name may
//! not appear twice. Sizes are checked before memory is
//! allocated: files above [`MAX_FILE_BYTES`] (manifests above [`MAX_MANIFEST_BYTES`]), lines
//! above [`MAX_CELLS_PER_LINE`] cells, more than [`MAX_ACTIONS_PER_AGENT`] actions per agent,
//! more than [`MAX_AGENTS`] agents, joint spaces above [`crate::table::MAX_JOINT_ACTIONS`],
//! more than [`MAX_STATES`] states or [`MAX_TOTAL_ENTRIES`] table entries in all.
//! Every loaded game passes [`crate::Game::validate`].

pub mod csv;
pub mod factorization;
pub mod game_file;
pub mod grid;
mod inline;
pub mod labels;
pub mod library;
pub mod long;
pub mod manifest;
pub mod text;
pub mod weights;

pub use crate::factorization::LearnedFactorization;
pub use csv::{csv_cell, format_value, MAX_ABS_VALUE, MAX_CELLS_PER_LINE};
pub use factorization::{
    parse_factorization, read_factorization, read_factorizations, write_factorization_csv,
    write_factorization_rows, FactorizationFilter, FACTORIZATION_HEADER, Q_PRIME_TOL,
};
pub use game_file::{
    file_policy, read_game_file, read_game_file_with, set_file_policy, FilePolicy,
    SINGLE_STATE_LABEL,
};
pub use labels::{MAX_ACTIONS_PER_AGENT, MAX_AGENTS};
pub use library::{
    builtins, is_path_spec, load_builtin, load_game, load_game_with, penalty_name, penalty_payoff,
    twentyone_payoff, BuiltinInfo, PENALTY_DEFAULT_K,
};
pub use manifest::{MAX_MANIFEST_BYTES, MAX_STATES, MAX_TOTAL_ENTRIES};
pub use text::{excerpt, EXCERPT_CHARS, MAX_FILE_BYTES};
pub use weights::{check_weights_for_fit, parse_weights, read_weights, read_weights_for_fit};
