//! Cooperative games: N agents with labelled actions, one or more states, a payoff table per
//! state and, for multi-step games, deterministic transitions and a discount γ.
//!
//! A *matrix game* has one state whose transitions are all terminal.

use crate::error::{Error, Result};
use crate::table::JointTable;

/// One agent: a name and its action labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The agent's name (column header in long CSV files).
    pub name: String,
    /// Action labels, in the order used by every table.
    pub actions: Vec<String>,
}

/// Where each joint action leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Every joint action ends the episode.
    Terminal,
    /// Per joint action (row-major, agent 1 slowest): the next state's index, or `None` when
    /// the episode ends.
    Joint(Vec<Option<usize>>),
}

/// One state: its label, immediate reward table and transitions.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// The state's label.
    pub label: String,
    /// Immediate reward `r(s, u)`.
    pub payoff: JointTable,
    /// Transitions.
    pub next: Next,
}

impl State {
    /// The state reached from joint action with flat index `k`, if any.
    pub fn next_of(&self, k: usize) -> Option<usize> {
        match &self.next {
            Next::Terminal => None,
            Next::Joint(v) => v[k],
        }
    }
}

/// A cooperative game.
#[derive(Debug, Clone, PartialEq)]
pub struct Game {
    /// Short name.
    pub name: String,
    /// Source citation, if known.
    pub source: Option<String>,
    /// Free-text note (e.g. "reconstructed from a public re-implementation").
    pub note: Option<String>,
    /// The agents.
    pub agents: Vec<Agent>,
    /// The states; `states[initial]` is where an episode starts.
    pub states: Vec<State>,
    /// Index of the initial state.
    pub initial: usize,
    /// Discount γ ∈ [0, 1].
    pub gamma: f64,
}

impl Game {
    /// A one-state matrix game.
    pub fn matrix(name: impl Into<String>, agents: Vec<Agent>, payoff: JointTable) -> Result<Self> {
        let g = Game {
            name: name.into(),
            source: None,
            note: None,
            agents,
            states: vec![State {
                label: "s".into(),
                payoff,
                next: Next::Terminal,
            }],
            initial: 0,
            gamma: 1.0,
        };
        g.validate()?;
        Ok(g)
    }

    /// Number of agents N.
    pub fn n_agents(&self) -> usize {
        self.agents.len()
    }

    /// Action counts per agent.
    pub fn shape(&self) -> Vec<usize> {
        self.agents.iter().map(|a| a.actions.len()).collect()
    }

    /// True when the game has a single state that always terminates.
    pub fn is_matrix(&self) -> bool {
        self.states.len() == 1
            && (0..self.states[0].payoff.len()).all(|k| self.states[0].next_of(k).is_none())
    }

    /// Index of the state labelled `label`.
    pub fn state_index(&self, label: &str) -> Option<usize> {
        self.states.iter().position(|s| s.label == label)
    }

    /// Labels of joint action `u`, one per agent.
    pub fn joint_labels(&self, u: &[usize]) -> Vec<String> {
        u.iter()
            .zip(&self.agents)
            .map(|(&a, ag)| ag.actions[a].clone())
            .collect()
    }

    /// Checks the structural invariants: labels unique and non-empty, tables match the
    /// agents' action counts, transitions in range, the state graph acyclic (finite horizon),
    /// γ ∈ [0, 1].
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.agents.is_empty() {
            return bad("a game needs at least one agent".into());
        }
        for (i, a) in self.agents.iter().enumerate() {
            if a.actions.is_empty() {
                return bad(format!("agent {} ({}) has no actions", i + 1, a.name));
            }
            let mut seen = std::collections::HashSet::new();
            for l in &a.actions {
                if l.is_empty() {
                    return bad(format!("agent {} has an empty action label", i + 1));
                }
                if !seen.insert(l.as_str()) {
                    return bad(format!("agent {} has the action label {l:?} twice", i + 1));
                }
            }
        }
        if self.states.is_empty() {
            return bad("a game needs at least one state".into());
        }
        if !(0.0..=1.0).contains(&self.gamma) {
            return bad(format!("gamma {} is outside [0, 1]", self.gamma));
        }
        if self.initial >= self.states.len() {
            return bad("initial state out of range".into());
        }
        let shape = self.shape();
        let mut seen = std::collections::HashSet::new();
        for s in &self.states {
            if !seen.insert(s.label.as_str()) {
                return bad(format!("state label {:?} is used twice", s.label));
            }
            if s.payoff.shape() != shape.as_slice() {
                return bad(format!(
                    "state {:?}: table shape {:?} does not match the agents' action counts {:?}",
                    s.label,
                    s.payoff.shape(),
                    shape
                ));
            }
            if let Next::Joint(v) = &s.next {
                if v.len() != s.payoff.len() {
                    return bad(format!(
                        "state {:?}: transition table has the wrong size",
                        s.label
                    ));
                }
                if v.iter().flatten().any(|&n| n >= self.states.len()) {
                    return bad(format!(
                        "state {:?}: transition to an unknown state",
                        s.label
                    ));
                }
            }
        }
        self.topological_order().map(|_| ())
    }

    /// States ordered so that every state comes after all states it can reach (leaves
    /// first), for backward induction. Errors on a cycle: only finite-horizon games are exact.
    pub fn topological_order(&self) -> Result<Vec<usize>> {
        // 0 = unvisited, 1 = on stack, 2 = done
        let n = self.states.len();
        let mut mark = vec![0u8; n];
        let mut order = Vec::with_capacity(n);
        for root in 0..n {
            if mark[root] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            mark[root] = 1;
            while let Some(&mut (s, ref mut k)) = stack.last_mut() {
                let len = self.states[s].payoff.len();
                let mut pushed = false;
                while *k < len {
                    let idx = *k;
                    *k += 1;
                    if let Some(t) = self.states[s].next_of(idx) {
                        match mark[t] {
                            0 => {
                                mark[t] = 1;
                                stack.push((t, 0));
                                pushed = true;
                                break;
                            }
                            1 => {
                                return Err(Error::Invalid(format!(
                                    "the transitions contain a cycle through state {:?}; only \
                                     finite-horizon (acyclic) games are supported",
                                    self.states[t].label
                                )))
                            }
                            _ => {}
                        }
                    }
                }
                if !pushed {
                    mark[s] = 2;
                    order.push(s);
                    stack.pop();
                }
            }
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents(n: usize, k: usize) -> Vec<Agent> {
        (0..n)
            .map(|i| Agent {
                name: format!("agent{}", i + 1),
                actions: (0..k).map(|a| a.to_string()).collect(),
            })
            .collect()
    }

    #[test]
    fn cycle_is_rejected() {
        let t = JointTable::new(vec![1], vec![0.0]).unwrap();
        let g = Game {
            name: "c".into(),
            source: None,
            note: None,
            agents: agents(1, 1),
            states: vec![
                State {
                    label: "a".into(),
                    payoff: t.clone(),
                    next: Next::Joint(vec![Some(1)]),
                },
                State {
                    label: "b".into(),
                    payoff: t,
                    next: Next::Joint(vec![Some(0)]),
                },
            ],
            initial: 0,
            gamma: 1.0,
        };
        assert!(g.validate().is_err());
    }

    #[test]
    fn order_is_leaves_first() {
        let t = JointTable::new(vec![2], vec![0.0, 0.0]).unwrap();
        let g = Game {
            name: "c".into(),
            source: None,
            note: None,
            agents: agents(1, 2),
            states: vec![
                State {
                    label: "a".into(),
                    payoff: t.clone(),
                    next: Next::Joint(vec![Some(1), Some(2)]),
                },
                State {
                    label: "b".into(),
                    payoff: t.clone(),
                    next: Next::Joint(vec![Some(2), None]),
                },
                State {
                    label: "c".into(),
                    payoff: t,
                    next: Next::Terminal,
                },
            ],
            initial: 0,
            gamma: 1.0,
        };
        assert_eq!(g.topological_order().unwrap(), vec![2, 1, 0]);
    }
}
