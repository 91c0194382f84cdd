//! Inline payoff tables in TOML manifests: nested arrays of depth N, the outer level indexed
//! by agent 1's actions (agent 1 slowest, as everywhere), e.g. `payoff = [[7, 7], [7, 7]]`.
//! Every level keeps its source span so that a ragged row is reported at its own line.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

use crate::error::{Error, Result};
use crate::io::csv::{short_number, too_large, MAX_ABS_VALUE};
use crate::io::text::LineIndex;

/// A number or a list of nodes, with its byte span in the manifest.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Byte range in the manifest text.
    pub span: Range<usize>,
    /// The value.
    pub kind: NodeKind,
}

/// What a [`Node`] holds.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// A TOML integer or float.
    Num(f64),
    /// A TOML array.
    List(Vec<Node>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Spanned::<NodeKind>::deserialize(d)?;
        Ok(Node {
            span: s.span(),
            kind: s.into_inner(),
        })
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or an array of numbers")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<NodeKind, E> {
        Ok(NodeKind::Num(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<NodeKind, E> {
        Ok(NodeKind::Num(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<NodeKind, E> {
        Ok(NodeKind::Num(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<NodeKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeKind::List(items))
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

/// Flattens `node` into row-major values for agents with the given `labels`, checking every
/// level's length (raggedness) and every number's finiteness. `lines` indexes the manifest
/// source (for line numbers).
pub(crate) fn flatten(
    file: &str,
    lines: &LineIndex,
    node: &Node,
    labels: &[Vec<String>],
) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    let mut path = String::new();
    walk(file, lines, node, labels, 0, &mut path, &mut out)?;
    Ok(out)
}

fn walk(
    file: &str,
    lines: &LineIndex,
    node: &Node,
    labels: &[Vec<String>],
    depth: usize,
    path: &mut String,
    out: &mut Vec<f64>,
) -> Result<()> {
    let line = Some(lines.line(node.span.start));
    let n = labels.len();
    match (&node.kind, depth < n) {
        (NodeKind::Num(v), false) => {
            if !v.is_finite() {
                return Err(Error::input(
                    file,
                    line,
                    format!("payoff{path} = {v} is not a finite number"),
                ));
            }
            if v.abs() > MAX_ABS_VALUE {
                return Err(Error::input(
                    file,
                    line,
                    too_large(&format!("payoff{path} = {}", short_number(*v))),
                ));
            }
            out.push(*v);
            Ok(())
        }
        (NodeKind::Num(_), true) => Err(Error::input(
            file,
            line,
            format!(
                "payoff{path} is a number where a list of agent {}'s {} actions was expected \
                 (the payoff must be nested {n} deep, one level per agent)",
                depth + 1,
                labels[depth].len()
            ),
        )),
        (NodeKind::List(_), false) => Err(Error::input(
            file,
            line,
            format!(
                "payoff{path} is a list where a number was expected (the payoff must be nested \
                 {n} deep, one level per agent)"
            ),
        )),
        (NodeKind::List(items), true) => {
            let want = labels[depth].len();
            if items.len() != want {
                return Err(Error::input(
                    file,
                    line,
                    format!(
                        "ragged table: payoff{path} has {} but agent {} has {want} actions ({})",
                        plural(items.len(), "entry", "entries"),
                        depth + 1,
                        labels[depth].join(", ")
                    ),
                ));
            }
            for (item, label) in items.iter().zip(&labels[depth]) {
                let len = path.len();
                path.push_str(&format!("[{label}]"));
                walk(file, lines, item, labels, depth + 1, path, out)?;
                path.truncate(len);
            }
            Ok(())
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Doc {
        payoff: Node,
    }

    fn labels(shape: &[usize]) -> Vec<Vec<String>> {
        shape
            .iter()
            .map(|&k| (0..k).map(|a| a.to_string()).collect())
            .collect()
    }

    fn run(text: &str, shape: &[usize]) -> Result<Vec<f64>> {
        let d: Doc = toml::from_str(text).unwrap();
        flatten(
            "m.toml",
            &LineIndex::new(text.as_bytes()),
            &d.payoff,
            &labels(shape),
        )
    }

    #[test]
    fn flattens_row_major() {
        assert_eq!(
            run("payoff = [[1, 2.5], [3, -4]]", &[2, 2]).unwrap(),
            vec![1.0, 2.5, 3.0, -4.0]
        );
        assert_eq!(
            run("payoff = [1, 2, 3]", &[3]).unwrap(),
            vec![1.0, 2.0, 3.0]
        );
        let v = run("payoff = [[[0,1],[2,3]],[[4,5],[6,7]]]", &[2, 2, 2]).unwrap();
        assert_eq!(v, (0..8).map(f64::from).collect::<Vec<_>>());
    }

    #[test]
    fn ragged_rows_are_reported_at_their_line() {
        let e = run("payoff = [\n  [1, 2],\n  [3],\n]", &[2, 2])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("m.toml:3:") && e.contains("ragged") && e.contains("payoff[1]"),
            "{e}"
        );
        let e = run("payoff = [[1, 2]]", &[2, 2]).unwrap_err().to_string();
        assert!(e.contains("has 1 entry but agent 1 has 2"), "{e}");
        let e = run("payoff = [[1, [2]], [3, 4]]", &[2, 2])
            .unwrap_err()
            .to_string();
        assert!(e.contains("payoff[0][1] is a list"), "{e}");
        let e = run("payoff = [1, 2]", &[2, 2]).unwrap_err().to_string();
        assert!(e.contains("payoff[0] is a number"), "{e}");
        let e = run("payoff = [[1, nan], [3, 4]]", &[2, 2])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a finite number"), "{e}");
        let e = run("payoff = [[1, inf], [3, 4]]", &[2, 2])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a finite number"), "{e}");
        let e = run("payoff = [[1, 2],\n [1e308, 4]]", &[2, 2])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("m.toml:2:") && e.contains("payoff[1][0] = ") && e.contains("too large"),
            "{e}"
        );
    }

    #[test]
    fn strings_are_a_type_error() {
        let r: std::result::Result<Doc, _> = toml::from_str("payoff = [[1, \"x\"]]");
        let e = r.err().unwrap();
        assert!(
            e.message().contains("a number or an array"),
            "{}",
            e.message()
        );
        assert!(e.span().is_some());
    }
}
