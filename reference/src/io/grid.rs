//! Grid CSV, two agents: the first line is a corner cell (any text, may be empty) followed by
//! agent 2's action labels; each further line is one of agent 1's labels followed by the
//! payoffs of that row.
//!
//! ```text
//! a1\a2, A,   B,   C
//! A,     8,   -12, -12
//! B,     -12, 0,   0
//! C,     -12, 0,   0
//! ```

use crate::error::{Error, Result};
use crate::io::csv::{parse_number, separator_hint, Lexer, Record};
use crate::io::labels::{too_many_joint, LabelSet, LabeledTable, MAX_ACTIONS_PER_AGENT};
use crate::io::text::excerpt;
use crate::table::joint_size;

/// Parses the rows following `header` as a grid. Work and memory are linear in the input.
pub(crate) fn parse_grid(lexer: &mut Lexer<'_>, header: Record) -> Result<LabeledTable> {
    let file = lexer.file();
    let hl = header.line;
    if header.cells.len() < 2 {
        return Err(Error::input(
            file,
            Some(hl),
            format!(
                "a grid header needs a corner cell and at least one action label of agent 2 \
                 (a long CSV needs a last column named `reward`){}",
                separator_hint(&header)
            ),
        ));
    }
    if header.cells.len() - 1 > MAX_ACTIONS_PER_AGENT {
        return Err(Error::input(
            file,
            Some(hl),
            format!(
                "the header has {} action labels for agent 2; at most {MAX_ACTIONS_PER_AGENT} \
                 are supported",
                header.cells.len() - 1
            ),
        ));
    }
    let cols = LabelSet::from_labels(file, Some(hl), 1, &header.cells[1..])?;
    let width = header.cells.len();
    let mut rows = LabelSet::default();
    let mut row_lines = Vec::new();
    let mut values = Vec::new();
    while let Some(rec) = lexer.next_record()? {
        let line = Some(rec.line);
        if rec.cells.len() != width {
            return Err(Error::input(
                file,
                line,
                format!(
                    "this row has {} cells but the header has {width} (a label and {} payoffs)",
                    rec.cells.len(),
                    width - 1
                ),
            ));
        }
        if let Some(first) = rows.get(&rec.cells[0]) {
            return Err(Error::input(
                file,
                line,
                format!(
                    "agent 1's action label {} is used twice (first on line {})",
                    excerpt(&rec.cells[0]),
                    row_lines[first]
                ),
            ));
        }
        rows.push(file, line, 0, &rec.cells[0])?;
        row_lines.push(rec.line);
        if joint_size(&[rows.len(), cols.len()]).is_none() {
            return Err(too_many_joint(file, line, &[rows.len(), cols.len()]));
        }
        for cell in &rec.cells[1..] {
            values.push(parse_number(file, rec.line, cell)?);
        }
    }
    if rows.len() == 0 {
        return Err(Error::input(
            file,
            Some(hl),
            "the file has a header but no rows",
        ));
    }
    Ok(LabeledTable {
        names: None,
        labels: vec![rows.labels, cols.labels],
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(text: &str) -> Result<LabeledTable> {
        let mut lx = Lexer::new("g.csv", text);
        let h = lx.next_record()?.unwrap();
        parse_grid(&mut lx, h)
    }

    #[test]
    fn reads_a_grid() {
        let t = grid(",A,B\nx,1,2\ny,3,4.5\n").unwrap();
        assert_eq!(t.labels, vec![vec!["x", "y"], vec!["A", "B"]]);
        assert_eq!(t.values, vec![1.0, 2.0, 3.0, 4.5]);
    }

    #[test]
    fn single_column_and_row() {
        let t = grid("c,only\nr,7\n").unwrap();
        assert_eq!(t.shape(), vec![1, 1]);
    }

    #[test]
    fn errors_carry_lines() {
        for (text, line, phrase) in [
            (",A,B\nx,1\n", 2, "has 2 cells"),
            (",A,A\nx,1,2\n", 1, "used twice"),
            (",A,B\nx,1,2\n\nx,3,4\n", 4, "used twice"),
            (",A,B\n", 1, "no rows"),
            ("corner\n", 1, "at least one action label"),
            (";A;B\nx;1;2\n", 1, "separated by semicolons (;)"),
            ("p\tq\treward\nx\ty\t1\n", 1, "separated by tabs"),
            (",A,B\nx,1,1e308\n", 2, "too large"),
            (",A,B\nx,1,zz\n", 2, "not a number"),
            (",A,\nx,1,2\n", 1, "empty action label"),
        ] {
            let e = grid(text).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("g.csv:{line}:")) && e.contains(phrase),
                "{text:?}: {e}"
            );
        }
    }
}
