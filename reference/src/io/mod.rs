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
//! is one, and the problem; nothing here panics on input. Sizes are checked before memory is
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
pub use csv::{csv_cell, format_value, MAX_CELLS_PER_LINE};
pub use factorization::{
    parse_factorization, read_factorization, read_factorizations, write_factorization_csv,
    write_factorization_rows, FactorizationFilter, FACTORIZATION_HEADER, Q_PRIME_TOL,
};
pub use game_file::{read_game_file, SINGLE_STATE_LABEL};
pub use labels::{MAX_ACTIONS_PER_AGENT, MAX_AGENTS};
pub use library::{
    builtins, is_path_spec, load_builtin, load_game, penalty_name, penalty_payoff,
    twentyone_payoff, BuiltinInfo, PENALTY_DEFAULT_K,
};
pub use manifest::{MAX_MANIFEST_BYTES, MAX_STATES, MAX_TOTAL_ENTRIES};
pub use text::MAX_FILE_BYTES;
pub use weights::{parse_weights, read_weights};
