//! Plain-text tables laid out like the QTRAN paper's Table 1: agent 1's actions down the
//! side, agent 2's across the top, utilities on the margins. Entries that are optimal for
//! the true table carry a `*`; greedy entries of the shown table are in brackets. Games
//! with N ≠ 2 agents are listed one joint action per line.

use std::fmt::Write;

/// What to show around one joint table.
pub struct TableView<'a> {
    /// Title line.
    pub title: String,
    /// Action labels per agent.
    pub actions: &'a [Vec<String>],
    /// Row-major values (agent 1 slowest).
    pub values: &'a [f64],
    /// Utilities per agent, shown on the margins.
    pub utilities: Option<&'a [Vec<f64>]>,
    /// Flat indices of the true optimum (marked `*`).
    pub optimal: &'a [usize],
    /// Flat indices of the shown table's greedy joint actions (bracketed).
    pub greedy: &'a [usize],
}

fn cell(v: f64, optimal: bool, greedy: bool) -> String {
    let num = format!("{v:.2}");
    let star = if optimal { "*" } else { "" };
    if greedy {
        format!("[{num}]{star}")
    } else {
        format!("{num}{star}")
    }
}

fn util(v: f64, label: &str) -> String {
    format!("{v:.2}({label})")
}

/// Renders a table view to a string.
pub fn render(view: &TableView<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", view.title);
    let n = view.actions.len();
    if n == 2 {
        render_grid(&mut out, view);
    } else {
        render_long(&mut out, view);
    }
    if let Some(u) = view.utilities {
        if n != 2 {
            for (i, (qi, labels)) in u.iter().zip(view.actions).enumerate() {
                let parts: Vec<String> = qi.iter().zip(labels).map(|(&v, l)| util(v, l)).collect();
                let _ = writeln!(out, "  Q_{}: {}", i + 1, parts.join("  "));
            }
        }
    }
    out
}

fn render_grid(out: &mut String, view: &TableView<'_>) {
    let (rows, cols) = (&view.actions[0], &view.actions[1]);
    let nc = cols.len();
    let cells: Vec<String> = (0..view.values.len())
        .map(|k| {
            cell(
                view.values[k],
                view.optimal.contains(&k),
                view.greedy.contains(&k),
            )
        })
        .collect();
    let (head_left, col_heads): (Vec<String>, Vec<String>) = match view.utilities {
        Some(u) => (
            rows.iter().zip(&u[0]).map(|(l, &v)| util(v, l)).collect(),
            cols.iter().zip(&u[1]).map(|(l, &v)| util(v, l)).collect(),
        ),
        None => (rows.clone(), cols.clone()),
    };
    let lw = head_left.iter().map(String::len).max().unwrap_or(0).max(4);
    let cw = cells
        .iter()
        .chain(&col_heads)
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(6);
    let corner = if view.utilities.is_some() {
        "Q_1 \\ Q_2"
    } else {
        "u1 \\ u2"
    };
    let _ = write!(out, "  {:>lw$}", corner, lw = lw.max(corner.len()));
    let lw = lw.max(corner.len());
    for h in &col_heads {
        let _ = write!(out, "  {h:>cw$}");
    }
    let _ = writeln!(out);
    for (r, left) in head_left.iter().enumerate() {
        let _ = write!(out, "  {left:>lw$}");
        for c in 0..nc {
            let _ = write!(out, "  {:>cw$}", cells[r * nc + c]);
        }
        let _ = writeln!(out);
    }
}

fn render_long(out: &mut String, view: &TableView<'_>) {
    let shape: Vec<usize> = view.actions.iter().map(Vec::len).collect();
    let mut u = vec![0usize; shape.len()];
    for k in 0..view.values.len() {
        let labels: Vec<&str> = u
            .iter()
            .zip(view.actions)
            .map(|(&a, l)| l[a].as_str())
            .collect();
        let _ = writeln!(
            out,
            "  ({})  {}",
            labels.join(", "),
            cell(
                view.values[k],
                view.optimal.contains(&k),
                view.greedy.contains(&k)
            )
        );
        reference::table::increment(&mut u, &shape);
    }
}

/// Formats the range `[lowest, highest]` of returns over tied greedy choices: one number when
/// the two are tied, else `lowest to highest` followed by `note` (may be empty).
pub fn return_range(x: [f64; 2], note: &str) -> String {
    if reference::tol::tied(x[0], x[1]) {
        format!("{}", x[0])
    } else {
        format!("{} to {}{note}", x[0], x[1])
    }
}

/// Formats a residual, violation or MSE so that a non-zero value never prints as zero: six
/// decimals from 0.001 up, three significant digits in scientific notation below, `0` for
/// exact zero.
pub fn small(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() < 1e-3 {
        format!("{x:.2e}")
    } else {
        format!("{x:.6}")
    }
}

/// `n` followed by `noun`, with an `s` unless `n` is 1 ("1 seed", "2 seeds").
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Formats a list of joint actions' labels as `(A, A), (B, C)`.
pub fn joint_list(actions: &[Vec<String>]) -> String {
    actions
        .iter()
        .map(|u| format!("({})", u.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_never_print_as_zero() {
        assert_eq!(small(0.0), "0");
        assert_eq!(small(4.2e-7), "4.20e-7");
        assert_eq!(small(-3e-9), "-3.00e-9");
        assert_eq!(small(0.46), "0.460000");
        assert_eq!(plural(1, "seed"), "1 seed");
        assert_eq!(plural(2, "seed"), "2 seeds");
    }

    #[test]
    fn grid_marks_optimal_and_greedy() {
        let actions = vec![
            vec!["A".to_string(), "B".to_string()],
            vec!["A".into(), "B".into()],
        ];
        let values = [8.0, -12.0, -12.0, 0.0];
        let s = render(&TableView {
            title: "t".into(),
            actions: &actions,
            values: &values,
            utilities: None,
            optimal: &[0],
            greedy: &[3],
        });
        assert!(s.contains("8.00*"), "{s}");
        assert!(s.contains("[0.00]"), "{s}");
    }
}
