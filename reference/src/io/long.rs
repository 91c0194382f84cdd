//! Long CSV, any number of agents N ≥ 1: a header naming one column per agent and a last
//! column `reward`, then one row per joint action, each exactly once.
//!
//! ```text
//! agent1, agent2, reward
//! a,      a,      10
//! a,      b,      0
//! …
//! ```
//!
//! Agent names are the header cells; each agent's action labels are taken in order of first
//! appearance. The same layout, with a last column other than `reward` and labels that must
//! already be known, is used by transition files (`next`) and weight files (`weight`), see
//! `read_keyed`.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::io::csv::{parse_number, separator_hint, Lexer, Record};
use crate::io::labels::{
    check_agent_names, list, too_many_joint, LabelSet, LabeledTable, MAX_AGENTS,
};
use crate::io::text::{excerpt, excerpt_bare};
use crate::table::{joint_size, MAX_JOINT_ACTIONS};

/// True when `header` is a long-CSV header: its last cell is `last` (case-insensitive).
pub(crate) fn is_long_header(header: &Record, last: &str) -> bool {
    header
        .cells
        .last()
        .is_some_and(|c| c.trim().eq_ignore_ascii_case(last))
}

/// Rows read so far, stored flat: labels as indices (`n` per row), values and lines.
struct Rows {
    n: usize,
    labels: Vec<u16>,
    values: Vec<f64>,
    lines: Vec<u32>,
}

impl Rows {
    fn len(&self) -> usize {
        self.values.len()
    }

    fn joint_index(&self, r: usize, shape: &[usize]) -> usize {
        self.labels[r * self.n..(r + 1) * self.n]
            .iter()
            .zip(shape)
            .fold(0, |acc, (&a, &s)| acc * s + usize::from(a))
    }

    /// Places every row in a table of `shape`; errors on the first duplicate. Returns, per
    /// joint action, the row index plus one (0 = no row).
    fn place(&self, file: &str, shape: &[usize], sets: &[LabelSet]) -> Result<Vec<u32>> {
        let size = joint_size(shape).ok_or_else(|| too_many_joint(file, None, shape))?;
        let mut slot = vec![0u32; size];
        for r in 0..self.len() {
            let k = self.joint_index(r, shape);
            if slot[k] != 0 {
                let first = self.lines[slot[k] as usize - 1];
                return Err(Error::input(
                    file,
                    Some(self.lines[r] as usize),
                    format!(
                        "joint action ({}) appears twice (first on line {first})",
                        joint_label(
                            sets,
                            self.labels[r * self.n..(r + 1) * self.n]
                                .iter()
                                .map(|&a| usize::from(a))
                        )
                    ),
                ));
            }
            slot[k] = r as u32 + 1;
        }
        Ok(slot)
    }
}

fn joint_label(sets: &[LabelSet], u: impl IntoIterator<Item = usize>) -> String {
    u.into_iter()
        .zip(sets)
        .map(|(a, s)| excerpt_bare(&s.labels[a]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The labels of flat joint index `k` of `shape`.
fn labels_of(sets: &[LabelSet], shape: &[usize], mut k: usize) -> String {
    let mut u = vec![0usize; shape.len()];
    for i in (0..shape.len()).rev() {
        u[i] = k % shape[i];
        k /= shape[i];
    }
    joint_label(sets, u)
}

fn missing_error(
    file: &str,
    what: &str,
    sets: &[LabelSet],
    shape: &[usize],
    slot: &[u32],
) -> Error {
    let missing = slot.iter().filter(|&&s| s == 0).count();
    let k = slot.iter().position(|&s| s == 0).unwrap_or(0);
    Error::input(
        file,
        None,
        format!(
            "{what}joint action ({}) has no row ({missing} of {} joint actions are missing)",
            labels_of(sets, shape, k),
            slot.len()
        ),
    )
}

/// Checks a long header: `n` agent columns then the value column. Returns the agent names.
fn agent_columns(file: &str, header: &Record, skip: usize, last: &str) -> Result<Vec<String>> {
    let names: Vec<String> = header.cells[skip..header.cells.len() - 1].to_vec();
    if names.is_empty() {
        return Err(Error::input(
            file,
            Some(header.line),
            format!("the header needs at least one agent column before `{last}`"),
        ));
    }
    if names.len() > MAX_AGENTS {
        return Err(Error::input(
            file,
            Some(header.line),
            format!(
                "the header has {} agent columns; at most {MAX_AGENTS} are supported",
                names.len()
            ),
        ));
    }
    // A second value column would silently be read as an agent (`p,reward,reward`).
    if let Some(c) = names.iter().position(|n| n.eq_ignore_ascii_case(last)) {
        return Err(Error::input(
            file,
            Some(header.line),
            format!(
                "column `{last}` appears twice (columns {} and {}); the last column holds the \
                 values and every other column names an agent",
                skip + c + 1,
                header.cells.len()
            ),
        ));
    }
    for (c, name) in names.iter().enumerate() {
        if let Some(d) = names[..c].iter().position(|m| m == name) {
            return Err(Error::input(
                file,
                Some(header.line),
                format!(
                    "column {} appears twice (columns {} and {}): two agents cannot have the \
                     same name",
                    excerpt(name),
                    skip + d + 1,
                    skip + c + 1
                ),
            ));
        }
    }
    check_agent_names(file, Some(header.line), &names)?;
    Ok(names)
}

fn width_error(file: &str, rec: &Record, width: usize) -> Error {
    Error::input(
        file,
        Some(rec.line),
        format!(
            "this row has {} cells but the header has {width}",
            rec.cells.len()
        ),
    )
}

/// Parses the rows following a long-CSV `header` (whose last cell is `reward`). Labels are
/// collected in order of first appearance; the product of the label counts is checked against
/// [`MAX_JOINT_ACTIONS`] each time a label appears, before anything of that size is allocated,
/// and the number of rows never exceeds that product (a row beyond it must be a duplicate).
pub(crate) fn parse_long(lexer: &mut Lexer<'_>, header: Record) -> Result<LabeledTable> {
    let file = lexer.file();
    let names = agent_columns(file, &header, 0, "reward")?;
    let n = names.len();
    let width = n + 1;
    let mut sets = vec![LabelSet::default(); n];
    let mut product: usize = 1;
    let mut rows = Rows {
        n,
        labels: Vec::new(),
        values: Vec::new(),
        lines: Vec::new(),
    };
    // One record, its cells' buffers reused from row to row.
    let mut rec = Record {
        line: 0,
        cells: Vec::new(),
    };
    // Each agent's label on the previous row: rows sorted by agent 1 (the usual layout)
    // repeat it, and comparing two short strings is cheaper than hashing one.
    let mut last: Vec<Option<u16>> = vec![None; n];
    while lexer.next_into(&mut rec)? {
        if rec.cells.len() != width {
            return Err(width_error(file, &rec, width));
        }
        let line = Some(rec.line);
        for (i, cell) in rec.cells[..n].iter().enumerate() {
            let a = match last[i] {
                Some(a) if sets[i].labels[usize::from(a)] == *cell => usize::from(a),
                _ => match sets[i].get(cell) {
                    Some(a) => a,
                    None => {
                        let a = sets[i].push(file, line, i, cell)?;
                        let counts: Vec<usize> = sets.iter().map(LabelSet::len).collect();
                        product = joint_size(&counts)
                            .ok_or_else(|| too_many_joint(file, line, &counts))?;
                        a
                    }
                },
            };
            // At most MAX_ACTIONS_PER_AGENT = 4096 labels per agent: fits in a u16.
            let a = a as u16;
            last[i] = Some(a);
            rows.labels.push(a);
        }
        rows.values
            .push(parse_number(file, rec.line, &rec.cells[n])?);
        rows.lines.push(u32::try_from(rec.line).unwrap_or(u32::MAX));
        if rows.len() > product {
            // More rows than joint actions: some row repeats; `place` names it.
            let shape: Vec<usize> = sets.iter().map(LabelSet::len).collect();
            rows.place(file, &shape, &sets)?;
        }
    }
    if rows.len() == 0 {
        return Err(Error::input(
            file,
            Some(header.line),
            "the file has a header but no rows",
        ));
    }
    let shape: Vec<usize> = sets.iter().map(LabelSet::len).collect();
    let slot = rows.place(file, &shape, &sets)?;
    if slot.contains(&0) {
        return Err(missing_error(file, "", &sets, &shape, &slot));
    }
    let values = slot.iter().map(|&s| rows.values[s as usize - 1]).collect();
    Ok(LabeledTable {
        names: Some(names),
        labels: sets.into_iter().map(|s| s.labels).collect(),
        values,
    })
}

/// What a keyed long file is matched against: the game's agents and labels, the name of the
/// value column and, when a leading `state` column is allowed, the state labels.
pub(crate) struct KeyedSpec<'a> {
    /// Agent names (columns are matched by name, in any order).
    pub agents: &'a [String],
    /// Each agent's labels.
    pub labels: &'a [LabelSet],
    /// The last column's name, e.g. `next` or `weight`.
    pub value_column: &'a str,
    /// State labels, when a leading `state` column is allowed.
    pub states: Option<&'a [String]>,
}

/// A keyed long file: per state (or a single entry when the file has no `state` column) the
/// values in row-major order, `None` for states without rows.
#[derive(Debug)]
pub(crate) struct Keyed<T> {
    /// Whether the file had a `state` column.
    pub has_state_column: bool,
    /// Per state (or one entry without a state column).
    pub tables: Vec<Option<Vec<T>>>,
}

/// Values read so far with their lines, `None` where no row has been seen.
type Slots<T> = Vec<Option<(T, usize)>>;

/// Reads a long CSV whose rows are keyed by already-known labels: every joint action exactly
/// once per state present in the file. `parse` turns a value cell (with its line) into `T`.
pub(crate) fn read_keyed<T>(
    file: &str,
    text: &str,
    spec: &KeyedSpec<'_>,
    mut parse: impl FnMut(usize, &str) -> Result<T>,
) -> Result<Keyed<T>> {
    let mut lexer = Lexer::new(file, text);
    let Some(header) = lexer.next_record()? else {
        return Err(Error::input(file, None, "the file is empty"));
    };
    let hl = Some(header.line);
    let last = spec.value_column;
    if !is_long_header(&header, last) {
        return Err(Error::input(
            file,
            hl,
            format!(
                "the last column must be named `{last}`{}",
                separator_hint(&header)
            ),
        ));
    }
    let has_state = spec.states.is_some()
        && header
            .cells
            .first()
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("state"));
    let skip = usize::from(has_state);
    let names = agent_columns(file, &header, skip, last)?;
    let n = spec.agents.len();
    // column_of[i] = header position (after `skip`) of agent i.
    let mut column_of = vec![usize::MAX; n];
    for (c, name) in names.iter().enumerate() {
        match spec.agents.iter().position(|a| a == name) {
            Some(i) => column_of[i] = c,
            None => {
                return Err(Error::input(
                    file,
                    hl,
                    format!(
                        "column {} is not an agent of the game ({})",
                        excerpt(name),
                        list(spec.agents)
                    ),
                ))
            }
        }
    }
    if let Some(i) = column_of.iter().position(|&c| c == usize::MAX) {
        return Err(Error::input(
            file,
            hl,
            format!("no column for agent {:?}", spec.agents[i]),
        ));
    }
    let shape: Vec<usize> = spec.labels.iter().map(LabelSet::len).collect();
    let size = joint_size(&shape).ok_or_else(|| too_many_joint(file, None, &shape))?;
    let state_index: HashMap<&str, usize> = spec
        .states
        .unwrap_or(&[])
        .iter()
        .enumerate()
        .map(|(k, s)| (s.as_str(), k))
        .collect();
    let n_tables = if has_state {
        spec.states.map_or(1, <[String]>::len)
    } else {
        1
    };
    let mut tables: Vec<Option<Slots<T>>> = (0..n_tables).map(|_| None).collect();
    let width = header.cells.len();
    while let Some(rec) = lexer.next_record()? {
        if rec.cells.len() != width {
            return Err(width_error(file, &rec, width));
        }
        let line = Some(rec.line);
        let s = if has_state {
            let cell = rec.cells[0].as_str();
            match state_index.get(cell) {
                Some(&s) => s,
                None if cell.is_empty() && n_tables == 1 => 0,
                None => {
                    let all = spec.states.unwrap_or(&[]);
                    return Err(Error::input(
                        file,
                        line,
                        format!(
                            "unknown state {} (the game's states: {})",
                            excerpt(cell),
                            list(all)
                        ),
                    ));
                }
            }
        } else {
            0
        };
        let mut k = 0;
        for i in 0..n {
            let cell = &rec.cells[skip + column_of[i]];
            let Some(a) = spec.labels[i].get(cell) else {
                return Err(Error::input(
                    file,
                    line,
                    format!(
                        "unknown action {} for agent {:?} (its actions: {})",
                        excerpt(cell),
                        spec.agents[i],
                        list(&spec.labels[i].labels)
                    ),
                ));
            };
            k = k * shape[i] + a;
        }
        let table = tables[s].get_or_insert_with(|| (0..size).map(|_| None).collect());
        if let Some((_, first)) = &table[k] {
            let sets = spec.labels;
            return Err(Error::input(
                file,
                line,
                format!(
                    "joint action ({}) appears twice (first on line {first})",
                    labels_of(sets, &shape, k)
                ),
            ));
        }
        let v = parse(rec.line, &rec.cells[width - 1])?;
        table[k] = Some((v, rec.line));
    }
    if tables.iter().all(Option::is_none) {
        return Err(Error::input(file, hl, "the file has a header but no rows"));
    }
    let mut out = Vec::with_capacity(n_tables);
    for (s, t) in tables.into_iter().enumerate() {
        let Some(t) = t else {
            out.push(None);
            continue;
        };
        if t.iter().any(Option::is_none) {
            let slot: Vec<u32> = t.iter().map(|x| u32::from(x.is_some())).collect();
            let what = match spec.states {
                Some(states) if has_state => format!("state {:?}: ", states[s]),
                _ => String::new(),
            };
            return Err(missing_error(file, &what, spec.labels, &shape, &slot));
        }
        out.push(Some(
            t.into_iter()
                .map(|x| x.map(|(v, _)| v))
                .collect::<Option<Vec<T>>>()
                .ok_or_else(|| Error::Invalid("invariant: every joint action has a row".into()))?,
        ));
    }
    Ok(Keyed {
        has_state_column: has_state,
        tables: out,
    })
}

// Row indices plus one are stored as `u32`.
const _: () = assert!(MAX_JOINT_ACTIONS < u32::MAX as usize);

#[cfg(test)]
mod tests {
    use super::*;

    fn long(text: &str) -> Result<LabeledTable> {
        let mut lx = Lexer::new("l.csv", text);
        let h = lx.next_record()?.unwrap();
        parse_long(&mut lx, h)
    }

    #[test]
    fn reads_any_order_into_row_major() {
        let t = long("p,q,Reward\nb,y,4\na,x,1\nb,x,3\na,y,2\n").unwrap();
        assert_eq!(t.names, Some(vec!["p".to_string(), "q".to_string()]));
        assert_eq!(t.labels, vec![vec!["b", "a"], vec!["y", "x"]]);
        // b slowest: (b,y)=4, (b,x)=3, (a,y)=2, (a,x)=1
        assert_eq!(t.values, vec![4.0, 3.0, 2.0, 1.0]);
    }

    #[test]
    fn one_agent_and_three_agents() {
        let t = long("solo,reward\nu,1\nv,2\n").unwrap();
        assert_eq!(t.shape(), vec![2]);
        let mut text = String::from("a,b,c,reward\n");
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..2 {
                    text.push_str(&format!("{i},{j},{k},{}\n", i * 100 + j * 10 + k));
                }
            }
        }
        let t = long(&text).unwrap();
        assert_eq!(t.shape(), vec![2, 3, 2]);
        assert_eq!(t.values[7].to_bits(), 101f64.to_bits()); // (1,0,1)
    }

    #[test]
    fn duplicates_and_missing() {
        let e = long("a,b,reward\nx,y,1\nx,z,2\nx,y,3\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("l.csv:4:") && e.contains("(x, y) appears twice (first on line 2)"),
            "{e}"
        );
        let e = long("a,b,reward\nx,y,1\nw,z,2\nx,z,3\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("l.csv: ") && e.contains("(w, y) has no row"),
            "{e}"
        );
        // Duplicate found early, while the label product is still small.
        let e = long("a,reward\nx,1\nx,2\n").unwrap_err().to_string();
        assert!(e.starts_with("l.csv:3:") && e.contains("twice"), "{e}");
    }

    #[test]
    fn huge_joint_space_is_refused_at_the_line() {
        let n = 40;
        let header: Vec<String> = (0..n).map(|i| format!("g{i}")).collect();
        let row0 = vec!["0"; n].join(",");
        let row1 = vec!["1"; n].join(",");
        let text = format!("{},reward\n{row0},1\n{row1},2\n", header.join(","));
        let e = long(&text).unwrap_err().to_string();
        assert!(e.starts_with("l.csv:3:") && e.contains("more than"), "{e}");
    }

    #[test]
    fn keyed_reader() {
        let agents = vec!["p".to_string(), "q".to_string()];
        let labels = vec![
            LabelSet::from_labels("k", None, 0, &["a".into(), "b".into()]).unwrap(),
            LabelSet::from_labels("k", None, 1, &["x".into()]).unwrap(),
        ];
        let states = vec!["s1".to_string(), "s2".to_string()];
        let spec = KeyedSpec {
            agents: &agents,
            labels: &labels,
            value_column: "next",
            states: Some(&states),
        };
        let k = read_keyed(
            "k",
            "state,q,p,next\ns2,x,b,B\ns2,x,a,A\n",
            &spec,
            |_, c| Ok(c.to_string()),
        )
        .unwrap();
        assert!(k.has_state_column);
        assert!(k.tables[0].is_none());
        assert_eq!(
            k.tables[1].as_ref().unwrap(),
            &vec!["A".to_string(), "B".to_string()]
        );
        for (text, phrase) in [
            ("q,p,next\nx,c,1\n", "unknown action \"c\" for agent \"p\""),
            ("q,r,next\nx,a,1\n", "column \"r\" is not an agent"),
            ("q,next\nx,1\n", "no column for agent \"p\""),
            ("p,q,nxt\na,x,1\n", "must be named `next`"),
            ("state,p,q,next\ns3,a,x,1\n", "unknown state \"s3\""),
            (
                "state,p,q,next\ns1,a,x,1\n",
                "state \"s1\": joint action (b, x) has no row",
            ),
            (
                "p,q,next\na,x,1\na,x,2\n",
                "appears twice (first on line 2)",
            ),
        ] {
            let e = read_keyed("k", text, &spec, |_, c| Ok(c.to_string()))
                .unwrap_err()
                .to_string();
            assert!(e.contains(phrase), "{text:?}: {e}");
        }
    }

    #[test]
    fn header_problems_are_named() {
        let e = long("p,reward,reward\nx,1,2\n").unwrap_err().to_string();
        assert!(
            e.starts_with("l.csv:1:")
                && e.contains("column `reward` appears twice (columns 2 and 3)"),
            "{e}"
        );
        let e = long("p,q,p,reward\nx,y,z,1\n").unwrap_err().to_string();
        assert!(
            e.starts_with("l.csv:1:") && e.contains("column \"p\" appears twice (columns 1 and 3)"),
            "{e}"
        );
        let e = long("a,b,reward\ns3cr3t-API-KEY-123,y,1\ns3cr3t-API-KEY-123,y,2\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("l.csv:3:") && !e.contains("KEY-123"), "{e}");
        let e = long("a,b,reward\nx,y,1e308\n").unwrap_err().to_string();
        assert!(e.starts_with("l.csv:2:") && e.contains("too large"), "{e}");
    }
}
