//! Learned factorizations as long CSV, read by `qfactor check` and written by `qfactor train`.
//!
//! Header `state,table,agent,actions,value` (columns in any order; `state` may be left out
//! for single-state games), optionally with `method` and `seed` columns. One row per entry:
//!
//! | `table`   | `agent`            | `actions`                               |
//! |-----------|--------------------|-----------------------------------------|
//! | `q_i`     | 1..N (or a name)   | one of that agent's labels              |
//! | `q_jt`    | empty              | the joint action's labels, space-separated |
//! | `q_tot`   | empty              | as `q_jt`                               |
//! | `q_prime` | empty              | as `q_jt`                               |
//! | `v_jt`    | empty              | empty                                   |
//!
//! `state` is a state label (empty allowed in a single-state game). A state with any row
//! needs `q_i` for every agent's every action; a joint table, when present, needs every joint
//! action. When the file holds several `method`/`seed` combinations, a
//! [`FactorizationFilter`] must pick exactly one. Values are written with Rust's shortest
//! round-trip formatting, so a written file reads back bit-exactly.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::factorization::{Factorization, JointKind, LearnedFactorization};
use crate::game::Game;
use crate::io::csv::{csv_cell, format_value, parse_number, separator_hint, Lexer, Record};
use crate::io::labels::{list, LabelSet};
use crate::io::text::{excerpt, excerpt_bare, read_text};
use crate::table::{JointTable, Utilities};
use crate::tol;

/// The header `qfactor train` writes.
pub const FACTORIZATION_HEADER: &str = "method,seed,state,table,agent,actions,value";

/// Selects one factorization from a file holding several (`method`/`seed` columns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactorizationFilter {
    /// Keep only rows whose `method` is this.
    pub method: Option<String>,
    /// Keep only rows whose `seed` is this.
    pub seed: Option<String>,
}

/// The table kinds of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    QI,
    QJt,
    VJt,
    QTot,
    QPrime,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "q_i" => Kind::QI,
            "q_jt" => Kind::QJt,
            "v_jt" => Kind::VJt,
            "q_tot" => Kind::QTot,
            "q_prime" => Kind::QPrime,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::QI => "q_i",
            Kind::QJt => "q_jt",
            Kind::VJt => "v_jt",
            Kind::QTot => "q_tot",
            Kind::QPrime => "q_prime",
        }
    }

    /// Slot of a joint kind in [`Acc::joint`].
    fn joint_slot(self) -> Option<usize> {
        match self {
            Kind::QJt => Some(0),
            Kind::QTot => Some(1),
            Kind::QPrime => Some(2),
            _ => None,
        }
    }
}

const JOINT_KINDS: [Kind; 3] = [Kind::QJt, Kind::QTot, Kind::QPrime];

/// Column positions.
struct Columns {
    state: Option<usize>,
    table: usize,
    agent: usize,
    actions: usize,
    value: usize,
    method: Option<usize>,
    seed: Option<usize>,
    width: usize,
}

fn columns(file: &str, header: &Record) -> Result<Columns> {
    const NAMES: [&str; 7] = [
        "state", "table", "agent", "actions", "value", "method", "seed",
    ];
    let line = Some(header.line);
    let mut pos: [Option<usize>; 7] = [None; 7];
    for (c, cell) in header.cells.iter().enumerate() {
        let name = cell.trim().to_ascii_lowercase();
        let Some(k) = NAMES.iter().position(|n| *n == name) else {
            return Err(Error::input(
                file,
                line,
                format!(
                    "unknown column {} (expected {}){}",
                    excerpt(cell),
                    NAMES.join(", "),
                    separator_hint(header)
                ),
            ));
        };
        if pos[k].is_some() {
            return Err(Error::input(
                file,
                line,
                format!("column `{name}` appears twice"),
            ));
        }
        pos[k] = Some(c);
    }
    let need = |k: usize| {
        pos[k].ok_or_else(|| {
            Error::input(
                file,
                line,
                format!(
                    "missing column `{}` (the header is state,table,agent,actions,value, \
                     optionally with method and seed)",
                    NAMES[k]
                ),
            )
        })
    };
    Ok(Columns {
        state: pos[0],
        table: need(1)?,
        agent: need(2)?,
        actions: need(3)?,
        value: need(4)?,
        method: pos[5],
        seed: pos[6],
        width: header.cells.len(),
    })
}

fn cell(rec: &Record, c: Option<usize>) -> &str {
    c.map_or("", |c| rec.cells[c].as_str())
}

fn width_check(file: &str, rec: &Record, cols: &Columns) -> Result<()> {
    if rec.cells.len() != cols.width {
        return Err(Error::input(
            file,
            Some(rec.line),
            format!(
                "this row has {} cells but the header has {}",
                rec.cells.len(),
                cols.width
            ),
        ));
    }
    Ok(())
}

fn describe(key: &(String, String), cols: &Columns) -> String {
    let mut parts = Vec::new();
    if cols.method.is_some() {
        parts.push(format!("method={}", key.0));
    }
    if cols.seed.is_some() {
        parts.push(format!("seed={}", key.1));
    }
    parts.join(" ")
}

/// Picks the single `(method, seed)` key the filter allows; `None` when the file has neither
/// column (every row is kept).
fn select(
    file: &str,
    text: &str,
    cols: &Columns,
    filter: &FactorizationFilter,
) -> Result<Option<(String, String)>> {
    // A file without a `method` column holds one method's tables: a requested method then
    // names their class (`qfactor check --method`) and selects nothing.
    if cols.seed.is_none() && filter.seed.is_some() {
        return Err(Error::input(
            file,
            Some(1),
            "a seed was asked for but the file has no `seed` column",
        ));
    }
    if cols.method.is_none() && cols.seed.is_none() {
        return Ok(None);
    }
    let keys = keys_of(file, text, cols)?;
    let all: Vec<String> = keys.iter().map(|k| describe(k, cols)).collect();
    let chosen: Vec<&(String, String)> = keys
        .iter()
        .filter(|(m, s)| {
            filter.method.as_ref().is_none_or(|f| f == m)
                && filter.seed.as_ref().is_none_or(|f| f == s)
        })
        .collect();
    match chosen.as_slice() {
        [one] => Ok(Some((*one).clone())),
        [] if keys.is_empty() => Err(Error::input(
            file,
            Some(1),
            "the file has a header but no rows",
        )),
        [] => Err(Error::input(
            file,
            None,
            format!(
                "no rows match the requested method/seed; the file holds: {}",
                list(&all)
            ),
        )),
        _ => {
            let shown: Vec<String> = chosen.iter().map(|k| describe(k, cols)).collect();
            Err(Error::input(
                file,
                None,
                format!(
                    "the file holds several factorizations ({}); choose one by method and/or seed",
                    list(&shown)
                ),
            ))
        }
    }
}

/// The distinct `(method, seed)` pairs of the rows, in order of first appearance (empty cells
/// where the file lacks the column).
fn keys_of(file: &str, text: &str, cols: &Columns) -> Result<Vec<(String, String)>> {
    let mut lexer = Lexer::new(file, text);
    lexer.next_record()?; // header
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    while let Some(rec) = lexer.next_record()? {
        width_check(file, &rec, cols)?;
        let key = (
            cell(&rec, cols.method).to_string(),
            cell(&rec, cols.seed).to_string(),
        );
        if seen.insert(key.clone()) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Every factorization a file holds that `filter` allows, as `(method, seed, tables)` in order
/// of first appearance — `qfactor check` on a whole `tables.csv`. Rows of the exact
/// pseudo-methods `qfactor train` writes (`payoff`, `exact-*`) are left out unless `filter`
/// names them. A file without `method`/`seed` columns holds one factorization (empty method
/// and seed).
pub fn read_factorizations(
    path: &Path,
    game: &Game,
    filter: &FactorizationFilter,
) -> Result<Vec<(String, String, LearnedFactorization)>> {
    let file = path.display().to_string();
    let text = read_text(path)?;
    let Some(header) = Lexer::new(&file, &text).next_record()? else {
        return Err(Error::input(&file, None, "the file is empty"));
    };
    let cols = columns(&file, &header)?;
    if cols.method.is_none() && cols.seed.is_none() {
        let f = parse_factorization(&file, &text, game, filter)?;
        return Ok(vec![(String::new(), String::new(), f)]);
    }
    let keys = keys_of(&file, &text, &cols)?;
    let wanted: Vec<(String, String)> = keys
        .into_iter()
        .filter(|(m, s)| {
            let named = filter.method.as_ref().is_some_and(|f| f == m);
            let pseudo = cols.method.is_some() && (m == "payoff" || m.starts_with("exact-"));
            (named || !pseudo)
                && (cols.method.is_none() || filter.method.as_ref().is_none_or(|f| f == m))
                && filter.seed.as_ref().is_none_or(|f| f == s)
        })
        .collect();
    if wanted.is_empty() {
        // Let the single-selection path explain what the file holds.
        parse_factorization(&file, &text, game, filter)?;
        return Err(Error::input(&file, None, "no learned tables in the file"));
    }
    wanted
        .into_iter()
        .map(|(m, s)| {
            let one = FactorizationFilter {
                method: cols.method.is_some().then(|| m.clone()),
                seed: cols.seed.is_some().then(|| s.clone()),
            };
            parse_factorization(&file, &text, game, &one).map(|f| (m, s, f))
        })
        .collect()
}

/// Values read so far, each with its line; `None` where no row has been seen.
type Slots = Vec<Option<(f64, usize)>>;

/// Entries collected for one state.
struct Acc {
    q_i: Vec<Slots>,
    v_jt: Option<(f64, usize)>,
    joint: [Option<Slots>; 3],
}

/// Reads a factorization of `game` from `path` (see the module docs for the format).
pub fn read_factorization(
    path: &Path,
    game: &Game,
    filter: &FactorizationFilter,
) -> Result<LearnedFactorization> {
    let text = read_text(path)?;
    parse_factorization(&path.display().to_string(), &text, game, filter)
}

/// [`read_factorization`] from text; `file` names it in errors.
pub fn parse_factorization(
    file: &str,
    text: &str,
    game: &Game,
    filter: &FactorizationFilter,
) -> Result<LearnedFactorization> {
    let mut lexer = Lexer::new(file, text);
    let Some(header) = lexer.next_record()? else {
        return Err(Error::input(file, None, "the file is empty"));
    };
    let cols = columns(file, &header)?;
    let key = select(file, text, &cols, filter)?;
    let n = game.n_agents();
    let shape = game.shape();
    let size = shape.iter().product::<usize>();
    let sets: Vec<LabelSet> = game
        .agents
        .iter()
        .map(|a| LabelSet::of_game(&a.actions))
        .collect();
    let state_index: HashMap<&str, usize> = game
        .states
        .iter()
        .enumerate()
        .map(|(k, s)| (s.label.as_str(), k))
        .collect();
    let state_labels: Vec<String> = game.states.iter().map(|s| s.label.clone()).collect();
    let agent_names: Vec<String> = game.agents.iter().map(|a| a.name.clone()).collect();
    let mut acc: Vec<Option<Acc>> = (0..game.states.len()).map(|_| None).collect();
    let mut rows = 0usize;
    while let Some(rec) = lexer.next_record()? {
        width_check(file, &rec, &cols)?;
        if let Some((m, s)) = &key {
            if cell(&rec, cols.method) != m || cell(&rec, cols.seed) != s {
                continue;
            }
        }
        rows += 1;
        let line = rec.line;
        let err = |m: String| Error::input(file, Some(line), m);
        let state_cell = cell(&rec, cols.state);
        let s = match state_index.get(state_cell) {
            Some(&s) => s,
            None if state_cell.is_empty() && game.states.len() == 1 => 0,
            None if state_cell.is_empty() => {
                return Err(err(format!(
                    "the state is empty but the game has {} states ({})",
                    game.states.len(),
                    list(&state_labels)
                )))
            }
            None => {
                return Err(err(format!(
                    "unknown state {} (the game's states: {})",
                    excerpt(state_cell),
                    list(&state_labels)
                )))
            }
        };
        let table_cell = &rec.cells[cols.table];
        let kind = Kind::parse(table_cell).ok_or_else(|| {
            err(format!(
                "unknown table {} (expected q_i, q_jt, v_jt, q_tot or q_prime)",
                excerpt(table_cell)
            ))
        })?;
        let agent_cell = rec.cells[cols.agent].trim();
        let actions_cell = rec.cells[cols.actions].trim();
        let value = parse_number(file, line, &rec.cells[cols.value])?;
        let a = acc[s].get_or_insert_with(|| Acc {
            q_i: shape.iter().map(|&k| vec![None; k]).collect(),
            v_jt: None,
            joint: [None, None, None],
        });
        let dup = |first: usize, what: String| {
            err(format!("{what} is given twice (first on line {first})"))
        };
        match kind {
            Kind::QI => {
                let i = match agent_cell.parse::<usize>() {
                    Ok(i) if (1..=n).contains(&i) => i - 1,
                    _ => agent_names
                        .iter()
                        .position(|x| x == agent_cell)
                        .ok_or_else(|| {
                            err(format!(
                                "q_i row: agent {} is not an agent number 1..{n} or name ({})",
                                excerpt(agent_cell),
                                list(&agent_names)
                            ))
                        })?,
                };
                let u = sets[i].get(actions_cell).ok_or_else(|| {
                    err(format!(
                        "q_i row: unknown action {} for agent {} (its actions: {})",
                        excerpt(actions_cell),
                        i + 1,
                        list(&sets[i].labels)
                    ))
                })?;
                if let Some((_, first)) = a.q_i[i][u] {
                    return Err(dup(
                        first,
                        format!("q_i of agent {}'s action {}", i + 1, excerpt(actions_cell)),
                    ));
                }
                a.q_i[i][u] = Some((value, line));
            }
            Kind::VJt => {
                if !agent_cell.is_empty() || !actions_cell.is_empty() {
                    let (column, got) = if agent_cell.is_empty() {
                        ("actions", actions_cell)
                    } else {
                        ("agent", agent_cell)
                    };
                    return Err(err(format!(
                        "a v_jt row needs empty `agent` and `actions` cells, but its `{column}` \
                         cell is {}",
                        excerpt(got)
                    )));
                }
                if let Some((_, first)) = a.v_jt {
                    return Err(dup(first, "v_jt".into()));
                }
                a.v_jt = Some((value, line));
            }
            joint_kind => {
                let name = joint_kind.name();
                if !agent_cell.is_empty() {
                    return Err(err(format!(
                        "a {name} row must leave the `agent` cell empty, but it is {} (a {name} \
                         row gives the joint action's labels in `actions`, one per agent)",
                        excerpt(agent_cell)
                    )));
                }
                let labels: Vec<&str> = actions_cell.split_whitespace().collect();
                if labels.len() != n {
                    return Err(err(format!(
                        "{name} row: `actions` must hold {n} labels separated by spaces, one per \
                         agent (got {})",
                        excerpt(actions_cell)
                    )));
                }
                let mut k = 0;
                for (i, l) in labels.iter().enumerate() {
                    let u = sets[i].get(l).ok_or_else(|| {
                        err(format!(
                            "{name} row: unknown action {} for agent {} (its actions: {})",
                            excerpt(l),
                            i + 1,
                            list(&sets[i].labels)
                        ))
                    })?;
                    k = k * shape[i] + u;
                }
                let slot = joint_kind
                    .joint_slot()
                    .expect("invariant: joint kinds have a slot");
                let t = a.joint[slot].get_or_insert_with(|| vec![None; size]);
                if let Some((_, first)) = t[k] {
                    return Err(dup(
                        first,
                        format!(
                            "{name} of joint action ({})",
                            labels
                                .iter()
                                .map(|l| excerpt_bare(l))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    ));
                }
                t[k] = Some((value, line));
            }
        }
    }
    if rows == 0 {
        return Err(Error::input(
            file,
            Some(header.line),
            "the file has a header but no rows",
        ));
    }
    let mut states = Vec::with_capacity(acc.len());
    for (s, a) in acc.into_iter().enumerate() {
        let Some(a) = a else {
            states.push(None);
            continue;
        };
        let label = &game.states[s].label;
        let mut utilities = Vec::with_capacity(n);
        for (i, q) in a.q_i.into_iter().enumerate() {
            if let Some(u) = q.iter().position(Option::is_none) {
                let missing = q.iter().filter(|x| x.is_none()).count();
                return Err(Error::input(
                    file,
                    None,
                    format!(
                        "state {label:?}: no q_i row for agent {}'s action {:?} ({missing} missing; \
                         every agent's every action needs one)",
                        i + 1,
                        sets[i].labels[u]
                    ),
                ));
            }
            utilities.push(q.into_iter().flatten().map(|(v, _)| v).collect());
        }
        let mut tables: [Option<JointTable>; 3] = [None, None, None];
        for (slot, t) in a.joint.into_iter().enumerate() {
            let Some(t) = t else { continue };
            if let Some(k) = t.iter().position(Option::is_none) {
                let missing = t.iter().filter(|x| x.is_none()).count();
                let u = game.states[s].payoff.joint_action(k);
                return Err(Error::input(
                    file,
                    None,
                    format!(
                        "state {label:?}: {} has no row for joint action ({}) ({missing} of {size} \
                         missing)",
                        JOINT_KINDS[slot].name(),
                        game.joint_labels(&u).join(" ")
                    ),
                ));
            }
            let values = t.into_iter().flatten().map(|(v, _)| v).collect();
            tables[slot] = Some(JointTable::new(shape.clone(), values).map_err(|e| match e {
                Error::Invalid(m) => Error::input(file, None, m),
                other => other,
            })?);
        }
        let [q_jt, q_tot, q_prime] = tables;
        let utilities = Utilities(utilities);
        let joint = match (q_jt, q_tot) {
            (Some(_), Some(_)) => {
                return Err(Error::input(
                    file,
                    None,
                    format!(
                        "state {label:?}: both q_jt and q_tot are given; give one learned joint \
                         table (q_jt: QTRAN's joint critic, q_tot: a mixer's output)"
                    ),
                ))
            }
            (Some(t), None) => Some((JointKind::QJt, t)),
            (None, Some(t)) => Some((JointKind::QTot, t)),
            (None, None) => None,
        };
        if let Some(given) = &q_prime {
            check_q_prime(file, game, s, given, &utilities)?;
        }
        let mut f = Factorization::new(utilities);
        if let Some((kind, t)) = joint {
            f = f.with_joint(kind, t)?;
        }
        f.v_jt = a.v_jt.map(|(v, _)| v);
        states.push(Some(f));
    }
    Ok(LearnedFactorization { states })
}

/// Relative tolerance for a given `q_prime` against `Σ Q_i` recomputed here: values learned in
/// f32 and summed there differ from the f64 sum by rounding only.
pub const Q_PRIME_TOL: f64 = 1e-5;

/// `Q'_jt` is derived from the utilities: a file that gives it must agree with `Σ Q_i` up to
/// [`Q_PRIME_TOL`] relative to `max(1, Σ |Q_i|)`.
fn check_q_prime(
    file: &str,
    game: &Game,
    s: usize,
    given: &JointTable,
    utilities: &Utilities,
) -> Result<()> {
    for (u, v) in given.iter() {
        let sum = utilities.sum_at(&u);
        let scale: f64 = utilities.0.iter().zip(&u).map(|(q, &a)| q[a].abs()).sum();
        if (v - sum).abs() > Q_PRIME_TOL * scale.max(1.0).max(tol::scale(v, sum)) {
            return Err(Error::input(
                file,
                None,
                format!(
                    "state {:?}: q_prime of joint action ({}) is {} but the utilities sum to {} \
                     (Q'_jt = Σ Q_i is derived from the q_i rows; leave the q_prime rows out or \
                     make them agree, relative tolerance {Q_PRIME_TOL:e})",
                    game.states[s].label,
                    game.joint_labels(&u).join(" "),
                    format_value(v),
                    format_value(sum)
                ),
            ));
        }
    }
    Ok(())
}

fn invalid(m: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, m)
}

/// Writes the rows of one factorization (no header) in the format above, after the columns
/// `method,seed`. Errors (`InvalidInput`) when its shapes do not match `game`.
pub fn write_factorization_rows(
    w: &mut impl Write,
    game: &Game,
    method: &str,
    seed: &str,
    f: &LearnedFactorization,
) -> io::Result<()> {
    if f.states.len() != game.states.len() {
        return Err(invalid(format!(
            "the factorization has {} states but the game has {}",
            f.states.len(),
            game.states.len()
        )));
    }
    let shape = game.shape();
    for (state, learned) in game.states.iter().zip(&f.states) {
        let Some(st) = learned else { continue };
        let prefix = format!(
            "{},{},{}",
            csv_cell(method),
            csv_cell(seed),
            csv_cell(&state.label)
        );
        if st.utilities.shape() != shape {
            return Err(invalid(format!(
                "state {:?}: utilities of shape {:?} for a game of shape {shape:?}",
                state.label,
                st.utilities.shape()
            )));
        }
        for (i, (q, agent)) in st.utilities.0.iter().zip(&game.agents).enumerate() {
            for (v, label) in q.iter().zip(&agent.actions) {
                writeln!(
                    w,
                    "{prefix},q_i,{},{},{}",
                    i + 1,
                    csv_cell(label),
                    format_value(*v)
                )?;
            }
        }
        if let Some(v) = st.v_jt {
            writeln!(w, "{prefix},v_jt,,,{}", format_value(v))?;
        }
        // Q'_jt is written beside a learned Q_jt (QTRAN's layout), derived from the utilities.
        let q_prime = st.q_jt().map(|_| st.q_prime());
        for (kind, table) in JOINT_KINDS
            .iter()
            .zip([st.q_jt(), st.q_tot(), q_prime.as_ref()])
        {
            let Some(t) = table else { continue };
            if t.shape() != shape.as_slice() {
                return Err(invalid(format!(
                    "state {:?}: {} of shape {:?} for a game of shape {shape:?}",
                    state.label,
                    kind.name(),
                    t.shape()
                )));
            }
            for (u, v) in t.iter() {
                let labels = game.joint_labels(&u).join(" ");
                writeln!(
                    w,
                    "{prefix},{},,{},{}",
                    kind.name(),
                    csv_cell(&labels),
                    format_value(v)
                )?;
            }
        }
    }
    Ok(())
}

/// Writes [`FACTORIZATION_HEADER`] and the rows of every `(method, seed, factorization)`.
pub fn write_factorization_csv(
    w: &mut impl Write,
    game: &Game,
    entries: &[(&str, &str, &LearnedFactorization)],
) -> io::Result<()> {
    writeln!(w, "{FACTORIZATION_HEADER}")?;
    for (method, seed, f) in entries {
        write_factorization_rows(w, game, method, seed, f)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::library::load_builtin;

    fn learned(game: &Game, scale: f64) -> LearnedFactorization {
        let shape = game.shape();
        let states = game
            .states
            .iter()
            .enumerate()
            .map(|(s, _)| {
                let q: Vec<Vec<f64>> = shape
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| {
                        (0..k)
                            .map(|a| scale * (a as f64 + 0.1 * i as f64) / 3.0)
                            .collect()
                    })
                    .collect();
                let t = |off: f64| {
                    JointTable::from_fn(shape.clone(), |u| off + u[0] as f64 / 7.0 - u[1] as f64)
                        .unwrap()
                };
                // Q_jt in some states, Q_tot in state 0, V_jt everywhere; Q'_jt derived.
                let kind = if s == 0 {
                    JointKind::QTot
                } else {
                    JointKind::QJt
                };
                let f = Factorization::new(Utilities(q))
                    .with_joint(kind, t(s as f64 + 1e-300))
                    .unwrap()
                    .with_v_jt(-1.0 / 3.0);
                Some(f)
            })
            .collect();
        LearnedFactorization { states }
    }

    #[test]
    fn write_then_read_is_bit_exact() {
        let game = load_builtin("two-step").unwrap();
        let a = learned(&game, 1.0);
        let b = learned(&game, 2.0);
        let mut out = Vec::new();
        write_factorization_csv(
            &mut out,
            &game,
            &[("qtran-alt", "1", &a), ("qtran-alt", "2", &b)],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let pick = |seed: &str| FactorizationFilter {
            method: None,
            seed: Some(seed.into()),
        };
        assert_eq!(
            parse_factorization("f", &text, &game, &pick("1")).unwrap(),
            a
        );
        assert_eq!(
            parse_factorization("f", &text, &game, &pick("2")).unwrap(),
            b
        );
        let e =
            parse_factorization("f", &text, &game, &FactorizationFilter::default()).unwrap_err();
        assert!(
            e.to_string().contains(
                "several factorizations (method=qtran-alt seed=1, method=qtran-alt seed=2)"
            ),
            "{e}"
        );
        let e = parse_factorization(
            "f",
            &text,
            &game,
            &FactorizationFilter {
                method: Some("vdn".into()),
                seed: None,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("no rows match"), "{e}");
    }

    #[test]
    fn labels_with_commas_and_quotes_roundtrip() {
        let csv = ",\"a,b\",\"q\"\"x\"\"\"\nr,1,2\n\"s,t\",3,4\n";
        let game = crate::io::game_file::game_from_csv("g.csv", "g", csv).unwrap();
        assert_eq!(game.agents[1].actions, ["a,b", "q\"x\""]);
        let f = learned(&game, 0.5);
        let mut out = Vec::new();
        write_factorization_csv(&mut out, &game, &[("m,1", "\"s\"", &f)]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let filter = FactorizationFilter {
            method: Some("m,1".into()),
            seed: Some("\"s\"".into()),
        };
        assert_eq!(parse_factorization("f", &text, &game, &filter).unwrap(), f);
    }

    #[test]
    fn minimal_single_state_file() {
        let game = load_builtin("paper-table1").unwrap();
        let text = "table,agent,actions,value\nq_i,1,A,1\nq_i,1,B,0\nq_i,1,C,0\nq_i,2,A,1\nq_i,agent2,B,0\nq_i,2,C,0\n";
        let f = parse_factorization("f", text, &game, &FactorizationFilter::default()).unwrap();
        let s = f.states[0].as_ref().unwrap();
        assert_eq!(
            s.utilities.0,
            vec![vec![1.0, 0.0, 0.0], vec![1.0, 0.0, 0.0]]
        );
        assert!(s.joint.is_none() && s.v_jt.is_none());
    }

    #[test]
    fn messages_say_what_is_wrong() {
        let game = load_builtin("paper-table1").unwrap();
        let base = "table,agent,actions,value\nq_i,1,A,1\nq_i,1,B,0\nq_i,1,C,0\nq_i,2,A,1\nq_i,2,B,0\nq_i,2,C,0\n";
        let parse = |extra: &str| {
            parse_factorization(
                "f.csv",
                &format!("{base}{extra}"),
                &game,
                &Default::default(),
            )
            .unwrap_err()
            .to_string()
        };
        let e = parse("q_jt,1,A A,8\n");
        assert!(
            e.starts_with("f.csv:8:")
                && e.contains("must leave the `agent` cell empty, but it is \"1\"")
                && !e.contains("has an empty"),
            "{e}"
        );
        let e = parse("v_jt,2,,0\n");
        assert!(
            e.starts_with("f.csv:8:") && e.contains("its `agent` cell is \"2\""),
            "{e}"
        );
        let e = parse("v_jt,,A,0\n");
        assert!(e.contains("its `actions` cell is \"A\""), "{e}");
        let e = parse("q_i,1,s3cr3t-API-KEY-123,0\n");
        assert!(
            e.starts_with("f.csv:8:") && e.contains("\"s3cr3t-API-K…\"") && !e.contains("KEY-123"),
            "{e}"
        );
        let e = parse("q_i,1,A,1e300\n");
        assert!(e.starts_with("f.csv:8:") && e.contains("too large"), "{e}");
        let e = parse_factorization(
            "f.csv",
            "state;table;agent;actions;value\n;q_i;1;A;1\n",
            &game,
            &Default::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("f.csv:1:") && e.contains("separated by semicolons"),
            "{e}"
        );
    }
}
