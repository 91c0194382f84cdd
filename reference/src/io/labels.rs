//! Action labels and agent names as read from files: validity checks, constant-time lookup,
//! and tables read with their own labels (`LabeledTable`) that are later put into the
//! game's label order.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::io::text::excerpt;
use crate::table::{increment, joint_size, MAX_JOINT_ACTIONS};

/// The most actions one agent may have. With two agents this is exactly the largest table
/// ([`MAX_JOINT_ACTIONS`] = 4096²); it also keeps label checks cheap.
pub const MAX_ACTIONS_PER_AGENT: usize = 4096;

/// The most agents a game file may declare.
pub const MAX_AGENTS: usize = 64;

/// Checks one action label: non-empty and free of whitespace (joint actions are written as
/// labels separated by spaces). `agent` is 0-based.
pub(crate) fn check_label(
    file: &str,
    line: Option<usize>,
    agent: usize,
    label: &str,
) -> Result<()> {
    if label.is_empty() {
        return Err(Error::input(
            file,
            line,
            format!("empty action label for agent {}", agent + 1),
        ));
    }
    if label.chars().any(char::is_whitespace) {
        return Err(Error::input(
            file,
            line,
            format!(
                "action label {} of agent {} contains whitespace; joint actions are written as \
                 labels separated by spaces, so labels cannot contain any",
                excerpt(label),
                agent + 1
            ),
        ));
    }
    Ok(())
}

/// One agent's labels in order, with a map back to their indices.
#[derive(Debug, Clone, Default)]
pub(crate) struct LabelSet {
    /// Labels in order.
    pub labels: Vec<String>,
    index: HashMap<String, u32>,
}

impl LabelSet {
    /// The index of `label`, if present.
    pub fn get(&self, label: &str) -> Option<usize> {
        self.index.get(label).map(|&i| i as usize)
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Appends a new, checked label (0-based `agent` for messages). Errors when the label is
    /// already present (`what` names where labels come from, e.g. "in the header") or when
    /// the agent would exceed [`MAX_ACTIONS_PER_AGENT`].
    pub fn push(
        &mut self,
        file: &str,
        line: Option<usize>,
        agent: usize,
        label: &str,
    ) -> Result<usize> {
        check_label(file, line, agent, label)?;
        if self.index.contains_key(label) {
            return Err(Error::input(
                file,
                line,
                format!(
                    "action label {} of agent {} is used twice",
                    excerpt(label),
                    agent + 1
                ),
            ));
        }
        if self.labels.len() >= MAX_ACTIONS_PER_AGENT {
            return Err(too_many_actions(file, line, agent));
        }
        let i = self.labels.len();
        self.index.insert(label.to_string(), i as u32);
        self.labels.push(label.to_string());
        Ok(i)
    }

    /// The index of a validated game's labels (no checks: [`crate::Game::validate`] has made
    /// them unique).
    pub fn of_game(labels: &[String]) -> Self {
        let index = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), i as u32))
            .collect();
        LabelSet {
            labels: labels.to_vec(),
            index,
        }
    }

    /// A set built from a list of labels (every label checked, duplicates rejected).
    pub fn from_labels(
        file: &str,
        line: Option<usize>,
        agent: usize,
        labels: &[String],
    ) -> Result<Self> {
        if labels.len() > MAX_ACTIONS_PER_AGENT {
            return Err(too_many_actions(file, line, agent));
        }
        let mut s = LabelSet::default();
        for l in labels {
            s.push(file, line, agent, l)?;
        }
        Ok(s)
    }
}

/// The error for an agent with more than [`MAX_ACTIONS_PER_AGENT`] actions.
pub(crate) fn too_many_actions(file: &str, line: Option<usize>, agent: usize) -> Error {
    Error::input(
        file,
        line,
        format!(
            "agent {} has more than {MAX_ACTIONS_PER_AGENT} actions, the most supported",
            agent + 1
        ),
    )
}

/// The error for label counts whose product exceeds [`MAX_JOINT_ACTIONS`].
pub(crate) fn too_many_joint(file: &str, line: Option<usize>, counts: &[usize]) -> Error {
    let shown: Vec<String> = counts.iter().take(12).map(usize::to_string).collect();
    let more = if counts.len() > 12 { " × …" } else { "" };
    Error::input(
        file,
        line,
        format!(
            "{} agents with {}{more} actions make more than {MAX_JOINT_ACTIONS} joint actions, \
             the most supported",
            counts.len(),
            shown.join(" × ")
        ),
    )
}

/// Checks agent names: non-empty and unique. `line` is where they are declared.
pub(crate) fn check_agent_names(file: &str, line: Option<usize>, names: &[String]) -> Result<()> {
    if names.len() > MAX_AGENTS {
        return Err(Error::input(
            file,
            line,
            format!(
                "{} agents declared; at most {MAX_AGENTS} are supported",
                names.len()
            ),
        ));
    }
    let mut seen = HashMap::new();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(Error::input(
                file,
                line,
                format!("agent {} has an empty name", i + 1),
            ));
        }
        if let Some(j) = seen.insert(n.as_str(), i) {
            return Err(Error::input(
                file,
                line,
                format!(
                    "agents {} and {} have the same name {} (a column appears twice)",
                    j + 1,
                    i + 1,
                    excerpt(n)
                ),
            ));
        }
    }
    Ok(())
}

/// A table read from one file, in that file's own label order.
#[derive(Debug, Clone)]
pub(crate) struct LabeledTable {
    /// Agent names, when the file names them (long CSV headers).
    pub names: Option<Vec<String>>,
    /// Each agent's labels, in the file's order.
    pub labels: Vec<Vec<String>>,
    /// Row-major values in the file's label order.
    pub values: Vec<f64>,
}

impl LabeledTable {
    /// Action counts per agent.
    pub fn shape(&self) -> Vec<usize> {
        self.labels.iter().map(Vec::len).collect()
    }

    /// The values reordered into `reference`'s label order. Each agent's labels must be the
    /// same set as the reference's.
    pub fn conform(
        &self,
        file: &str,
        line: Option<usize>,
        reference: &[Vec<String>],
    ) -> Result<Vec<f64>> {
        if self.labels.len() != reference.len() {
            return Err(Error::input(
                file,
                line,
                format!(
                    "the table has {} agents but the game has {}",
                    self.labels.len(),
                    reference.len()
                ),
            ));
        }
        if self.labels == reference {
            return Ok(self.values.clone());
        }
        // perm[i][a] = index in the reference of this table's label a of agent i.
        let mut perm = Vec::with_capacity(reference.len());
        for (i, (own, refl)) in self.labels.iter().zip(reference).enumerate() {
            let index: HashMap<&str, usize> = refl
                .iter()
                .enumerate()
                .map(|(k, l)| (l.as_str(), k))
                .collect();
            let mut p = Vec::with_capacity(own.len());
            for l in own {
                match index.get(l.as_str()) {
                    Some(&k) => p.push(k),
                    None => {
                        return Err(Error::input(
                            file,
                            line,
                            format!(
                                "agent {}'s action {} is not one of the game's actions ({})",
                                i + 1,
                                excerpt(l),
                                list(refl)
                            ),
                        ))
                    }
                }
            }
            if own.len() != refl.len() {
                let missing = refl
                    .iter()
                    .find(|l| !own.contains(l))
                    .map_or("?", |s| s.as_str());
                return Err(Error::input(
                    file,
                    line,
                    format!(
                        "agent {}'s action {} has no entries in this table",
                        i + 1,
                        excerpt(missing)
                    ),
                ));
            }
            perm.push(p);
        }
        let shape = self.shape();
        let n = joint_size(&shape).ok_or_else(|| too_many_joint(file, line, &shape))?;
        let ref_shape: Vec<usize> = reference.iter().map(Vec::len).collect();
        let mut out = vec![0.0; n];
        let mut u = vec![0usize; shape.len()];
        for &v in &self.values {
            let k = u
                .iter()
                .zip(&perm)
                .zip(&ref_shape)
                .fold(0, |acc, ((&a, p), &s)| acc * s + p[a]);
            out[k] = v;
            increment(&mut u, &shape);
        }
        Ok(out)
    }
}

/// `a, b, c` (at most 20 items shown).
pub(crate) fn list(items: &[String]) -> String {
    let mut s: Vec<&str> = items.iter().take(20).map(String::as_str).collect();
    if items.len() > 20 {
        s.push("…");
    }
    s.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn label_checks() {
        let mut s = LabelSet::default();
        assert_eq!(s.push("f", Some(1), 0, "a").unwrap(), 0);
        assert_eq!(s.push("f", Some(1), 0, "b").unwrap(), 1);
        assert_eq!(s.get("b"), Some(1));
        let e = s.push("f", Some(2), 0, "a").unwrap_err().to_string();
        assert!(e.contains("used twice"), "{e}");
        let e = s.push("f", Some(2), 1, "x y").unwrap_err().to_string();
        assert!(e.contains("whitespace") && e.contains("agent 2"), "{e}");
        assert!(s.push("f", None, 0, "").is_err());
        let many: Vec<String> = (0..=MAX_ACTIONS_PER_AGENT).map(|i| i.to_string()).collect();
        assert!(LabelSet::from_labels("f", None, 0, &many)
            .unwrap_err()
            .to_string()
            .contains("more than"));
        assert!(check_agent_names("f", None, &v(&["a", "a"])).is_err());
        assert!(check_agent_names("f", None, &v(&["a", ""])).is_err());
    }

    #[test]
    fn conform_permutes_against_brute_force() {
        let t = LabeledTable {
            names: None,
            labels: vec![v(&["y", "x"]), v(&["c", "a", "b"])],
            values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        };
        let reference = vec![v(&["x", "y"]), v(&["a", "b", "c"])];
        let out = t.conform("f", None, &reference).unwrap();
        // Brute force: look up every (row label, column label) pair.
        for (i, r) in reference[0].iter().enumerate() {
            for (j, c) in reference[1].iter().enumerate() {
                let ti = t.labels[0].iter().position(|l| l == r).unwrap();
                let tj = t.labels[1].iter().position(|l| l == c).unwrap();
                assert_eq!(out[i * 3 + j].to_bits(), t.values[ti * 3 + tj].to_bits());
            }
        }
        let bad = vec![v(&["x", "y"]), v(&["a", "b", "d"])];
        assert!(t
            .conform("f", None, &bad)
            .unwrap_err()
            .to_string()
            .contains("\"c\""));
        let fewer = vec![v(&["x", "y", "z"]), v(&["a", "b", "c"])];
        assert!(t
            .conform("f", None, &fewer)
            .unwrap_err()
            .to_string()
            .contains("\"z\""));
    }
}
