//! TOML manifests: a game's metadata and, for multi-step games, its states and transitions.
//!
//! ```toml
//! name = "QMIX two-step game"
//! source = "Rashid et al. 2018, QMIX, Figure 3"
//! note = "…"                        # optional
//! gamma = 1.0                       # optional, default 1
//! agents = ["agent1", "agent2"]     # optional names
//! actions = [["0", "1"], ["0", "1"]]  # optional labels (needed by inline payoffs)
//! initial = "1"                     # optional, default the first state
//!
//! [[states]]
//! label = "1"
//! payoff = [[0, 0], [0, 0]]         # inline, nested one level per agent; or
//! # file = "table.csv"              # a grid or long CSV relative to the manifest
//! next = { agent = 1, map = { "0" = "2A", "1" = "2B" } }
//! # next = "2A"                     # every joint action goes to 2A
//! # next_file = "next.csv"          # long CSV: agent columns, last column `next`
//! # no next key: the state is terminal
//! ```
//!
//! A single-state game may give `file` or `payoff` at the top level instead of `[[states]]`
//! (its state is labelled `s`): that is how a CSV table gets a name and a citation. In `next`
//! maps and `next` files an empty state label means the episode ends. Unknown keys are errors.
//! Action labels must be the same sets in every state; the order is the top-level `actions`,
//! else the first state's.
//!
//! # Which files a manifest may name
//! A `file` or `next_file` path is taken relative to the manifest's folder and must stay
//! inside it: after `..` and symbolic links are resolved (both paths canonicalised), the file
//! must lie in that folder or below it, so that a manifest from elsewhere cannot make qfactor
//! read (and quote in its messages) `../../secret/creds.csv` or `/etc/passwd`.
//! [`FilePolicy::Anywhere`] (the command line's `--allow-outside-files`) lifts this. Whatever
//! the policy, only regular files are read: a FIFO, a device or a directory is refused from
//! its metadata, before it is opened.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::game::{Agent, Game, Next, State};
use crate::io::game_file::FilePolicy;
use crate::io::game_file::{as_input, default_names, finish, parse_table_csv, SINGLE_STATE_LABEL};
use crate::io::inline::{flatten, Node};
use crate::io::labels::{
    check_agent_names, list, too_many_joint, LabelSet, LabeledTable, MAX_AGENTS,
};
use crate::io::long::{read_keyed, KeyedSpec};
use crate::io::text::{excerpt, line_at, not_regular, read_text, LineIndex};
use crate::table::{joint_size, JointTable, MAX_JOINT_ACTIONS};

/// The largest manifest read: 4 MiB (large tables belong in CSV files).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// The most states a manifest may declare.
pub const MAX_STATES: usize = 10_000;

/// The most table entries all states together may hold (one largest table's worth).
pub const MAX_TOTAL_ENTRIES: usize = MAX_JOINT_ACTIONS;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    name: Option<String>,
    source: Option<String>,
    note: Option<String>,
    gamma: Option<Spanned<f64>>,
    agents: Option<Spanned<Vec<String>>>,
    actions: Option<Spanned<Vec<Vec<String>>>>,
    initial: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    payoff: Option<Node>,
    states: Option<Spanned<Vec<Spanned<StateDoc>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateDoc {
    label: Spanned<String>,
    file: Option<Spanned<String>>,
    payoff: Option<Node>,
    actions: Option<Spanned<Vec<Vec<String>>>>,
    next: Option<Spanned<toml::Value>>,
    next_file: Option<Spanned<String>>,
}

/// Where the files a manifest names are found.
pub(crate) enum Origin<'a> {
    /// On disk, relative to this directory, confined to it unless the policy says otherwise.
    Dir(&'a Path, FilePolicy),
    /// In an embedded map from file name to contents (the built-in library).
    Embedded(&'a [(&'static str, &'static str)]),
}

impl Origin<'_> {
    /// Opens `rel`; `file`/`line` locate the reference in the manifest. Returns the display
    /// name used in errors about the file and its text.
    fn open(
        &self,
        file: &str,
        line: Option<usize>,
        rel: &str,
    ) -> Result<(String, Cow<'static, str>)> {
        match self {
            Origin::Dir(dir, policy) => {
                let path = dir.join(rel);
                let display = path.display().to_string();
                let cannot = |source: std::io::Error| {
                    Error::input(file, line, format!("cannot read {display:?}: {source}"))
                };
                let target = match policy {
                    FilePolicy::Anywhere => path.clone(),
                    FilePolicy::ManifestFolder => {
                        // An empty folder is the current one (a manifest named without a path).
                        let folder = if dir.as_os_str().is_empty() {
                            Path::new(".")
                        } else {
                            dir
                        };
                        let base = std::fs::canonicalize(folder).map_err(cannot)?;
                        let target = std::fs::canonicalize(&path).map_err(cannot)?;
                        if !target.starts_with(&base) {
                            return Err(Error::input(
                                file,
                                line,
                                format!(
                                    "{rel:?} is outside the manifest's folder {:?} (after \
                                     resolving `..` and symbolic links); a manifest may only \
                                     name files in its own folder or below it (the command \
                                     line's --allow-outside-files lifts this)",
                                    base.display().to_string()
                                ),
                            ));
                        }
                        // Opened by its resolved path, the one just checked.
                        target
                    }
                };
                if let Some(why) = not_regular(&target) {
                    return Err(Error::input(file, line, format!("{display:?} {why}")));
                }
                match read_text(&target) {
                    Ok(t) => Ok((display, Cow::Owned(t))),
                    Err(Error::Io { source, .. }) => Err(cannot(source)),
                    // Problems of the text itself are reported against the file as named.
                    Err(Error::Input {
                        location, message, ..
                    }) => Err(Error::Input {
                        location: crate::error::Location {
                            file: display,
                            ..location
                        },
                        message,
                    }),
                    Err(e) => Err(e),
                }
            }
            Origin::Embedded(files) => match files.iter().find(|(n, _)| *n == rel) {
                Some((n, t)) => Ok((format!("<builtin {n}>"), Cow::Borrowed(*t))),
                None => Err(Error::input(
                    file,
                    line,
                    format!("no built-in file {rel:?}"),
                )),
            },
        }
    }
}

/// Converts a TOML error into an input error at the line of its span.
fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> Error {
    let line = e.span().map(|s| line_at(text.as_bytes(), s.start));
    Error::input(
        file,
        line,
        format!("invalid manifest: {}", e.message().trim()),
    )
}

/// A state's description, from `[[states]]` or from the top level.
struct StateSpec {
    label: String,
    line: Option<usize>,
    file: Option<Spanned<String>>,
    payoff: Option<Node>,
    actions: Option<Spanned<Vec<Vec<String>>>>,
    next: Option<Spanned<toml::Value>>,
    next_file: Option<Spanned<String>>,
}

/// Parses a manifest and everything it references. `default_name` names the game when the
/// manifest has no `name`.
pub(crate) fn parse_manifest(
    file: &str,
    text: &str,
    origin: &Origin<'_>,
    default_name: &str,
) -> Result<Game> {
    let doc: Doc = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let lines = LineIndex::new(text.as_bytes());
    let at = |span: Range<usize>| Some(lines.line(span.start));
    let err = |span: Range<usize>, m: String| Error::input(file, at(span), m);

    let specs = state_specs(file, doc.states, doc.file, doc.payoff, &at)?;
    if specs.len() > MAX_STATES {
        return Err(Error::input(
            file,
            specs[MAX_STATES].line,
            format!("more than {MAX_STATES} states, the most supported"),
        ));
    }

    // Top-level labels, when given, fix the order of every agent's actions.
    let top_labels = match &doc.actions {
        Some(a) => Some(label_sets(file, at(a.span()), a.get_ref())?),
        None => None,
    };

    // Each state's table, in its own label order.
    let mut tables: Vec<(String, LabeledTable)> = Vec::with_capacity(specs.len());
    let mut total = 0usize;
    for s in &specs {
        let t = load_table(file, &lines, origin, s, top_labels.as_deref())?;
        total += t.1.values.len();
        if total > MAX_TOTAL_ENTRIES {
            return Err(Error::input(
                file,
                s.line,
                format!(
                    "the states' tables hold more than {MAX_TOTAL_ENTRIES} entries in all, the \
                     most supported"
                ),
            ));
        }
        tables.push(t);
    }
    let reference: Vec<Vec<String>> = match &top_labels {
        Some(sets) => sets.iter().map(|s| s.labels.clone()).collect(),
        None => tables[0].1.labels.clone(),
    };
    let n = reference.len();
    if n > MAX_AGENTS {
        return Err(Error::input(
            file,
            None,
            format!("{n} agents; at most {MAX_AGENTS} are supported"),
        ));
    }
    let shape: Vec<usize> = reference.iter().map(Vec::len).collect();
    joint_size(&shape).ok_or_else(|| too_many_joint(file, None, &shape))?;
    let sets: Vec<LabelSet> = reference
        .iter()
        .enumerate()
        .map(|(i, l)| LabelSet::from_labels(file, None, i, l))
        .collect::<Result<_>>()?;

    let names = agent_names(file, &doc.agents, &tables, n, &at)?;

    // State labels.
    let mut index: HashMap<String, usize> = HashMap::new();
    for (k, s) in specs.iter().enumerate() {
        if s.label.is_empty() {
            return Err(Error::input(file, s.line, "a state label is empty"));
        }
        if index.insert(s.label.clone(), k).is_some() {
            return Err(Error::input(
                file,
                s.line,
                format!("state label {:?} is used twice", s.label),
            ));
        }
    }
    let labels: Vec<String> = specs.iter().map(|s| s.label.clone()).collect();

    let mut states = Vec::with_capacity(specs.len());
    for (s, (table_file, table)) in specs.iter().zip(&tables) {
        let values = table.conform(table_file, None, &reference)?;
        let payoff =
            JointTable::new(shape.clone(), values).map_err(|e| as_input(table_file, None, e))?;
        let next = transitions(file, &lines, origin, s, &names, &sets, &index, &labels)?;
        states.push(State {
            label: s.label.clone(),
            payoff,
            next,
        });
    }

    let initial = match &doc.initial {
        None => 0,
        Some(l) => *index.get(l.get_ref()).ok_or_else(|| {
            err(
                l.span(),
                format!(
                    "initial state {:?} is not a state ({})",
                    l.get_ref(),
                    list(&labels)
                ),
            )
        })?,
    };
    let gamma = match &doc.gamma {
        None => 1.0,
        Some(g) => {
            let v = *g.get_ref();
            if !(0.0..=1.0).contains(&v) {
                return Err(err(g.span(), format!("gamma = {v} is outside [0, 1]")));
            }
            v
        }
    };
    let agents = names
        .into_iter()
        .zip(reference)
        .map(|(name, actions)| Agent { name, actions })
        .collect();
    let game = Game {
        name: doc.name.unwrap_or_else(|| default_name.to_string()),
        source: doc.source,
        note: doc.note,
        agents,
        states,
        initial,
        gamma,
    };
    finish(file, game)
}

/// The list of states: `[[states]]`, or a single state from a top-level `file`/`payoff`.
fn state_specs(
    file: &str,
    states: Option<Spanned<Vec<Spanned<StateDoc>>>>,
    top_file: Option<Spanned<String>>,
    top_payoff: Option<Node>,
    at: &dyn Fn(Range<usize>) -> Option<usize>,
) -> Result<Vec<StateSpec>> {
    match states {
        Some(states) => {
            if let Some(f) = &top_file {
                return Err(Error::input(
                    file,
                    at(f.span()),
                    "give either a top-level `file`/`payoff` or [[states]], not both",
                ));
            }
            if let Some(p) = &top_payoff {
                return Err(Error::input(
                    file,
                    at(p.span.clone()),
                    "give either a top-level `file`/`payoff` or [[states]], not both",
                ));
            }
            let span = states.span();
            let states = states.into_inner();
            if states.is_empty() {
                return Err(Error::input(file, at(span), "`states` is empty"));
            }
            Ok(states
                .into_iter()
                .map(|s| {
                    let s = s.into_inner();
                    StateSpec {
                        line: at(s.label.span()),
                        label: s.label.into_inner(),
                        file: s.file,
                        payoff: s.payoff,
                        actions: s.actions,
                        next: s.next,
                        next_file: s.next_file,
                    }
                })
                .collect())
        }
        None => {
            if top_file.is_none() && top_payoff.is_none() {
                return Err(Error::input(
                    file,
                    None,
                    "the manifest has no table: give `file = \"….csv\"`, `payoff = [...]` or \
                     [[states]]",
                ));
            }
            Ok(vec![StateSpec {
                label: SINGLE_STATE_LABEL.into(),
                line: None,
                file: top_file,
                payoff: top_payoff,
                actions: None,
                next: None,
                next_file: None,
            }])
        }
    }
}

/// Checked label sets from a TOML `actions` list.
fn label_sets(file: &str, line: Option<usize>, actions: &[Vec<String>]) -> Result<Vec<LabelSet>> {
    if actions.is_empty() {
        return Err(Error::input(file, line, "`actions` lists no agents"));
    }
    if actions.len() > MAX_AGENTS {
        return Err(Error::input(
            file,
            line,
            format!(
                "`actions` lists {} agents; at most {MAX_AGENTS} are supported",
                actions.len()
            ),
        ));
    }
    actions
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if l.is_empty() {
                return Err(Error::input(
                    file,
                    line,
                    format!("agent {} has no actions", i + 1),
                ));
            }
            LabelSet::from_labels(file, line, i, l)
        })
        .collect()
}

/// Reads one state's table; returns the name to report its problems against and the table.
fn load_table(
    file: &str,
    lines: &LineIndex,
    origin: &Origin<'_>,
    s: &StateSpec,
    top_labels: Option<&[LabelSet]>,
) -> Result<(String, LabeledTable)> {
    let at = |span: Range<usize>| Some(lines.line(span.start));
    let which = if s.line.is_some() {
        format!("state {:?}", s.label)
    } else {
        "the manifest".into()
    };
    let own = match &s.actions {
        Some(a) => Some(label_sets(file, at(a.span()), a.get_ref())?),
        None => None,
    };
    match (&s.file, &s.payoff) {
        (Some(f), None) => {
            let (display, csv) = origin.open(file, at(f.span()), f.get_ref())?;
            let table = parse_table_csv(&display, &csv)?;
            if let Some(own) = own {
                let own: Vec<Vec<String>> = own.into_iter().map(|s| s.labels).collect();
                let values = table.conform(&display, None, &own)?;
                return Ok((
                    display,
                    LabeledTable {
                        names: table.names,
                        labels: own,
                        values,
                    },
                ));
            }
            Ok((display, table))
        }
        (None, Some(p)) => {
            let sets = match (&own, top_labels) {
                (Some(o), _) => o.as_slice(),
                (None, Some(t)) => t,
                (None, None) => {
                    return Err(Error::input(
                        file,
                        at(p.span.clone()),
                        format!(
                            "{which}: an inline `payoff` needs action labels: add `actions = \
                             [[\"a\", \"b\"], …]` (one list per agent)"
                        ),
                    ))
                }
            };
            let labels: Vec<Vec<String>> = sets.iter().map(|s| s.labels.clone()).collect();
            let shape: Vec<usize> = labels.iter().map(Vec::len).collect();
            joint_size(&shape).ok_or_else(|| too_many_joint(file, at(p.span.clone()), &shape))?;
            let values = flatten(file, lines, p, &labels)?;
            Ok((
                file.to_string(),
                LabeledTable {
                    names: None,
                    labels,
                    values,
                },
            ))
        }
        (Some(f), Some(_)) => Err(Error::input(
            file,
            at(f.span()),
            format!("{which} has both `file` and `payoff`; give one"),
        )),
        (None, None) => Err(Error::input(
            file,
            s.line,
            format!("{which} has no table: give `file = \"….csv\"` or `payoff = [...]`"),
        )),
    }
}

/// The agents' names: the manifest's `agents`, else a long CSV header's, else `agent1`, ….
/// Every long CSV must agree with the names in force.
fn agent_names(
    file: &str,
    declared: &Option<Spanned<Vec<String>>>,
    tables: &[(String, LabeledTable)],
    n: usize,
    at: &dyn Fn(Range<usize>) -> Option<usize>,
) -> Result<Vec<String>> {
    let mut names: Option<Vec<String>> = None;
    if let Some(d) = declared {
        let line = at(d.span());
        check_agent_names(file, line, d.get_ref())?;
        if d.get_ref().len() != n {
            return Err(Error::input(
                file,
                line,
                format!(
                    "`agents` names {} agents but the tables have {n}",
                    d.get_ref().len()
                ),
            ));
        }
        names = Some(d.get_ref().clone());
    }
    for (table_file, t) in tables {
        if let Some(own) = &t.names {
            match &names {
                Some(ns) if ns != own => {
                    return Err(Error::input(
                        table_file,
                        Some(1),
                        format!(
                            "the header names the agents ({}) but the game's agents are ({})",
                            list(own),
                            list(ns)
                        ),
                    ))
                }
                Some(_) => {}
                None => names = Some(own.clone()),
            }
        }
    }
    Ok(names.unwrap_or_else(|| default_names(n)))
}

/// Resolves a state label in `next`; the empty label means the episode ends.
fn resolve(index: &HashMap<String, usize>, label: &str) -> std::result::Result<Option<usize>, ()> {
    if label.is_empty() {
        return Ok(None);
    }
    index.get(label).map(|&k| Some(k)).ok_or(())
}

/// A state's transitions from `next` or `next_file`.
#[allow(clippy::too_many_arguments)]
fn transitions(
    file: &str,
    lines: &LineIndex,
    origin: &Origin<'_>,
    s: &StateSpec,
    names: &[String],
    sets: &[LabelSet],
    index: &HashMap<String, usize>,
    labels: &[String],
) -> Result<Next> {
    let at = |span: Range<usize>| Some(lines.line(span.start));
    let shape: Vec<usize> = sets.iter().map(LabelSet::len).collect();
    let size = joint_size(&shape).ok_or_else(|| too_many_joint(file, None, &shape))?;
    let unknown = |l: &str| format!("{} is not a state ({})", excerpt(l), list(labels));
    match (&s.next, &s.next_file) {
        (Some(_), Some(f)) => Err(Error::input(
            file,
            at(f.span()),
            format!(
                "state {:?} has both `next` and `next_file`; give one",
                s.label
            ),
        )),
        (None, None) => Ok(Next::Terminal),
        (None, Some(f)) => {
            let (display, csv) = origin.open(file, at(f.span()), f.get_ref())?;
            let spec = KeyedSpec {
                agents: names,
                labels: sets,
                value_column: "next",
                states: None,
            };
            let keyed = read_keyed(&display, &csv, &spec, |line, cell| {
                resolve(index, cell).map_err(|()| Error::input(&display, Some(line), unknown(cell)))
            })?;
            let v =
                keyed.tables.into_iter().next().flatten().ok_or_else(|| {
                    Error::input(&display, None, "the file has a header but no rows")
                })?;
            Ok(Next::Joint(v))
        }
        (Some(next), None) => {
            let line = at(next.span());
            let bad = |m: String| Error::input(file, line, m);
            match next.get_ref() {
                toml::Value::String(target) => {
                    let t = resolve(index, target).map_err(|()| bad(unknown(target)))?;
                    Ok(Next::Joint(vec![t; size]))
                }
                toml::Value::Table(t) => {
                    if let Some(k) = t.keys().find(|k| *k != "agent" && *k != "map") {
                        return Err(bad(format!(
                            "unknown key `{k}` in `next` (expected `agent` and `map`)"
                        )));
                    }
                    let agent = match t.get("agent") {
                        Some(toml::Value::Integer(i))
                            if *i >= 1 && (*i as u64) <= names.len() as u64 =>
                        {
                            *i as usize - 1
                        }
                        Some(toml::Value::String(name)) => {
                            names.iter().position(|x| x == name).ok_or_else(|| {
                                bad(format!(
                                    "`next.agent` {} is not an agent ({})",
                                    excerpt(name),
                                    list(names)
                                ))
                            })?
                        }
                        Some(other) => {
                            return Err(bad(format!(
                                "`next.agent` = {other} is not an agent number 1..{} or name",
                                names.len()
                            )))
                        }
                        None => {
                            return Err(bad(
                                "`next` needs `agent = …` (whose action decides)".into()
                            ))
                        }
                    };
                    let Some(toml::Value::Table(map)) = t.get("map") else {
                        return Err(bad(
                            "`next` needs `map = { \"action\" = \"state\", … }` (a table)".into(),
                        ));
                    };
                    let mut by_action: Vec<Option<Option<usize>>> = vec![None; sets[agent].len()];
                    for (action, target) in map {
                        let a = sets[agent].get(action).ok_or_else(|| {
                            bad(format!(
                                "`next.map`: {} is not an action of agent {} ({})",
                                excerpt(action),
                                agent + 1,
                                list(&sets[agent].labels)
                            ))
                        })?;
                        let toml::Value::String(target) = target else {
                            return Err(bad(format!(
                                "`next.map`: the target of {} must be a state label",
                                excerpt(action)
                            )));
                        };
                        by_action[a] =
                            Some(resolve(index, target).map_err(|()| bad(unknown(target)))?);
                    }
                    if let Some(a) = by_action.iter().position(Option::is_none) {
                        return Err(bad(format!(
                            "`next.map` has no entry for agent {}'s action {:?} (use \"\" to end \
                             the episode)",
                            agent + 1,
                            sets[agent].labels[a]
                        )));
                    }
                    let by_action: Vec<Option<usize>> = by_action.into_iter().flatten().collect();
                    let stride: usize = shape[agent + 1..].iter().product();
                    Ok(Next::Joint(
                        (0..size)
                            .map(|k| by_action[(k / stride) % shape[agent]])
                            .collect(),
                    ))
                }
                other => Err(bad(format!(
                    "`next` must be a state label or {{ agent = …, map = {{ … }} }}, not {}",
                    other.type_str()
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, files: &'static [(&'static str, &'static str)]) -> Result<Game> {
        parse_manifest("m.toml", text, &Origin::Embedded(files), "m")
    }

    const TWO_STEP: &str = r#"
name = "two-step"
gamma = 0.5
actions = [["0", "1"], ["0", "1"]]
initial = "1"

[[states]]
label = "1"
payoff = [[0, 0], [0, 0]]
next = { agent = 1, map = { "0" = "2A", "1" = "2B" } }

[[states]]
label = "2A"
payoff = [[7, 7], [7, 7]]

[[states]]
label = "2B"
file = "b.csv"
"#;

    #[test]
    fn two_step_inline_and_file() {
        let g = parse(TWO_STEP, &[("b.csv", ",1,0\n0,1,0\n1,8,1\n")]).unwrap();
        assert_eq!(g.states.len(), 3);
        assert_eq!(g.states[2].payoff.values(), &[0.0, 1.0, 1.0, 8.0]);
        assert_eq!(
            g.states[0].next,
            Next::Joint(vec![Some(1), Some(1), Some(2), Some(2)])
        );
        assert_eq!(g.states[1].next, Next::Terminal);
        assert!((g.gamma - 0.5).abs() < 1e-15);
        assert_eq!(g.agents[0].name, "agent1");
    }

    #[test]
    fn next_by_second_agent_and_next_file() {
        let text = r#"
actions = [["a", "b"], ["x", "y", "z"]]
[[states]]
label = "root"
payoff = [[0, 0, 0], [0, 0, 0]]
next = { agent = "agent2", map = { x = "t", y = "", z = "t" } }
[[states]]
label = "mid"
payoff = [[0, 0, 0], [0, 0, 0]]
next_file = "n.csv"
[[states]]
label = "t"
payoff = [[1, 2, 3], [4, 5, 6]]
next = ""
"#;
        let files = &[(
            "n.csv",
            "agent2,agent1,next\nx,a,t\ny,a,\nz,a,t\nx,b,\ny,b,t\nz,b,\n",
        )];
        let g = parse(text, files).unwrap();
        let t = Some(2);
        assert_eq!(g.states[0].next, Next::Joint(vec![t, None, t, t, None, t]));
        assert_eq!(
            g.states[1].next,
            Next::Joint(vec![t, None, t, None, t, None])
        );
        assert_eq!(g.states[2].next, Next::Joint(vec![None; 6]));
    }

    #[test]
    fn single_state_metadata_and_label_reorder() {
        let text = "name = \"x\"\nsource = \"src\"\nactions = [[\"b\", \"a\"], [\"c\"]]\nfile = \"t.csv\"\n";
        let g = parse(text, &[("t.csv", "p,q,reward\na,c,1\nb,c,2\n")]).unwrap();
        assert_eq!(g.name, "x");
        assert_eq!(g.source.as_deref(), Some("src"));
        assert_eq!(g.agents[0].name, "p");
        assert_eq!(g.agents[0].actions, vec!["b", "a"]);
        assert_eq!(g.states[0].payoff.values(), &[2.0, 1.0]);
        assert_eq!(g.states[0].label, "s");
    }

    #[test]
    fn errors_with_lines() {
        for (text, line, phrase) in [
            ("name = \"x\"\nbogus = 1\nfile = \"t.csv\"\n", Some(2), "unknown field `bogus`"),
            ("name = \"x\"\nfile = \n", Some(2), "invalid manifest"),
            ("name = \"x\"\n", None, "has no table"),
            ("payoff = [[1]]\n", Some(1), "needs action labels"),
            ("actions = [[\"a\"]]\npayoff = [1]\ngamma = 2\n", Some(3), "outside [0, 1]"),
            ("actions = [[\"a\"]]\npayoff = [1]\ninitial = \"q\"\n", Some(3), "not a state"),
            ("file = \"missing.csv\"\n", Some(1), "no built-in file"),
            ("actions = [[\"a a\"]]\npayoff = [1]\n", Some(1), "whitespace"),
            ("actions = [[\"a\"]]\n[[states]]\nlabel = \"s\"\npayoff = [1]\nnext = \"s\"\n", None, "cycle"),
            ("actions = [[\"a\"]]\n[[states]]\nlabel = \"s\"\npayoff = [1]\nnext = \"u\"\n", Some(5), "\"u\" is not a state"),
            ("actions = [[\"a\"]]\n[[states]]\nlabel = \"s\"\npayoff = [1]\n[[states]]\nlabel = \"s\"\npayoff = [1]\n", Some(6), "used twice"),
            ("actions = [[\"a\",\"b\"]]\n[[states]]\nlabel = \"s\"\npayoff = [1, 2]\nnext = { agent = 1, map = { a = \"\" } }\n", Some(5), "no entry for agent 1's action \"b\""),
            ("actions = [[\"a\"]]\n[[states]]\nlabel = \"s\"\npayoff = [1]\nnext = { agent = 2, map = {} }\n", Some(5), "not an agent"),
            ("actions = [[\"a\"]]\n[[states]]\nlabel = \"s\"\npayoff = [1]\nnext = 3\n", Some(5), "must be a state label"),
            ("actions = [[\"a\"]]\nagents = [\"p\", \"q\"]\npayoff = [1]\n", Some(2), "names 2 agents"),
        ] {
            let e = parse(text, &[]).unwrap_err();
            let Error::Input { location, message } = &e else { panic!("{e}") };
            assert_eq!(location.file, "m.toml", "{text}");
            assert_eq!(location.line, line, "{text}: {e}");
            assert!(message.contains(phrase), "{text}: {e}");
        }
    }

    #[test]
    fn label_sets_must_agree_across_states() {
        let text = "[[states]]\nlabel = \"1\"\nfile = \"a.csv\"\nnext = \"2\"\n[[states]]\nlabel = \"2\"\nfile = \"b.csv\"\n";
        let files = &[("a.csv", ",x,y\nu,1,2\n"), ("b.csv", ",x,z\nu,1,2\n")];
        let e = parse(text, files).unwrap_err().to_string();
        assert!(e.contains("<builtin b.csv>") && e.contains("\"z\""), "{e}");
        let files = &[("a.csv", ",x,y\nu,1,2\n"), ("b.csv", ",y,x\nu,1,2\n")];
        let g = parse(text, files).unwrap();
        assert_eq!(g.states[1].payoff.values(), &[2.0, 1.0]);
    }

    #[cfg(unix)]
    #[test]
    fn files_outside_the_manifest_folder_are_refused() {
        use crate::io::game_file::{read_game_file_with, FilePolicy};
        let root = std::env::temp_dir().join(format!("qfactor-confine-{}", std::process::id()));
        let dir = root.join("games");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(root.join("secret.csv"), ",A\nx,1\n").unwrap();
        std::fs::write(dir.join("sub/t.csv"), ",A\nx,2\n").unwrap();
        std::os::unix::fs::symlink(root.join("secret.csv"), dir.join("link.csv")).unwrap();
        let manifest = |name: &str, target: &str| {
            let p = dir.join(name);
            std::fs::write(&p, format!("name = \"m\"\n\nfile = \"{target}\"\n")).unwrap();
            p
        };
        let inside = manifest("in.toml", "sub/t.csv");
        let g = read_game_file_with(&inside, FilePolicy::ManifestFolder).unwrap();
        assert_eq!(g.states[0].payoff.values(), &[2.0]);
        let abs = root.join("secret.csv").display().to_string();
        for (name, target) in [
            ("up.toml", "../secret.csv"),
            ("abs.toml", abs.as_str()),
            ("link.toml", "link.csv"),
            ("dots.toml", "sub/../../secret.csv"),
        ] {
            let p = manifest(name, target);
            let e = read_game_file_with(&p, FilePolicy::ManifestFolder).unwrap_err();
            let Error::Input { location, message } = &e else {
                panic!("{e}")
            };
            assert_eq!(location.file, p.display().to_string(), "{e}");
            assert_eq!(location.line, Some(3), "{e}");
            assert!(
                message.contains("outside the manifest's folder") && message.contains(target),
                "{e}"
            );
            let g = read_game_file_with(&p, FilePolicy::Anywhere).unwrap();
            assert_eq!(g.states[0].payoff.values(), &[1.0]);
        }
        let p = manifest("dir.toml", "sub");
        let e = read_game_file_with(&p, FilePolicy::ManifestFolder)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("dir.toml:3:") && e.contains("is a directory"),
            "{e}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
