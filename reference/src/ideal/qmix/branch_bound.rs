//! The exact search: depth-first branch-and-bound over prefix orderings ([`Tree`]), which also
//! enumerates small problems leaf by leaf without bounds (module docs).

use super::problem::{improves, Problem};
use super::symmetry::Structure;
use crate::error::Result;

/// Depth-first search over prefix orderings.
pub(super) struct Tree<'a> {
    p: &'a mut Problem,
    st: &'a Structure,
    use_bounds: bool,
    prefix: Vec<Vec<usize>>,
    placed: Vec<u64>,
    pub(super) best_sse: f64,
    pub(super) best_orders: Vec<Vec<usize>>,
    /// Per depth, the children kept: (bound, action, offset of their group bounds).
    children: Vec<Vec<(f64, usize, usize)>>,
    /// Per depth, the kept children's lower bounds on the orientation costs of the next
    /// agent's groups, `group_len` values each.
    child_costs: Vec<Vec<f64>>,
    /// Per depth, the node's lower bounds on the orientation costs of `costs_agent[depth]`'s
    /// groups.
    costs: Vec<Vec<f64>>,
    costs_agent: Vec<Option<usize>>,
    /// Per agent, while its order is being built: its groups' orientation costs (fixed then)
    /// and which of them are exact.
    own: Vec<Option<(Vec<f64>, Vec<bool>)>>,
    pub(super) aborted: bool,
    /// Smallest lower bound over subtrees left unexplored when aborted.
    pub(super) frontier: f64,
}

impl<'a> Tree<'a> {
    pub(super) fn new(
        p: &'a mut Problem,
        st: &'a Structure,
        use_bounds: bool,
        best_sse: f64,
        best_orders: Vec<Vec<usize>>,
    ) -> Self {
        let nag = p.shape.len();
        let mut prefix = vec![Vec::new(); nag];
        let mut placed = vec![0u64; nag];
        for i in 0..nag {
            if p.shape[i] == 1 {
                prefix[i].push(0);
                placed[i] = 1;
            }
        }
        let depth: usize = p.shape.iter().sum::<usize>() + 1;
        Tree {
            p,
            st,
            use_bounds,
            prefix,
            placed,
            best_sse,
            best_orders,
            children: vec![Vec::new(); depth],
            child_costs: vec![Vec::new(); depth],
            costs: vec![Vec::new(); depth],
            costs_agent: vec![None; depth],
            own: vec![None; nag],
            aborted: false,
            frontier: f64::INFINITY,
        }
    }

    pub(super) fn run(&mut self) -> Result<()> {
        if self.use_bounds && self.prunes(0.0) {
            return Ok(()); // the incumbent fits exactly
        }
        if self.is_leaf() {
            // Every agent has a single action: the root is the only ordering.
            let s = self.p.eval(&self.prefix)?;
            if improves(s, self.best_sse) {
                self.best_sse = s;
                self.best_orders = self.prefix.clone();
            }
            return Ok(());
        }
        self.explore(0, 0.0)
    }

    fn prunes(&self, bound: f64) -> bool {
        !improves(bound, self.best_sse)
    }

    fn next_agent(&self) -> Option<usize> {
        (0..self.prefix.len()).find(|&i| self.prefix[i].len() < self.p.shape[i])
    }

    fn is_leaf(&self) -> bool {
        (0..self.prefix.len()).all(|i| self.prefix[i].len() == self.p.shape[i])
    }

    fn push(&mut self, i: usize, a: usize) {
        let m = self.p.shape[i];
        self.prefix[i].push(a);
        self.placed[i] |= 1 << a;
        if self.prefix[i].len() + 1 == m {
            let last = (0..m)
                .find(|&r| self.placed[i] >> r & 1 == 0)
                .expect("invariant: one action is left");
            self.prefix[i].push(last);
            self.placed[i] |= 1 << last;
        }
    }

    fn pop(&mut self, i: usize) {
        let m = self.p.shape[i];
        let times = if self.prefix[i].len() == m { 2 } else { 1 };
        for _ in 0..times {
            let a = self.prefix[i]
                .pop()
                .expect("invariant: popping a pushed action");
            self.placed[i] &= !(1 << a);
        }
    }

    /// `π_a ≤ π_b` lexicographically can still hold for symmetric neighbours of agent `i`.
    fn lex_ok(&self, i: usize) -> bool {
        let ok = |a: usize, b: usize| {
            let l = self.prefix[a].len().min(self.prefix[b].len());
            self.prefix[b][..l] >= self.prefix[a][..l]
        };
        self.st.sym_prev[i].is_none_or(|h| ok(h, i)) && self.st.sym_next[i].is_none_or(|j| ok(i, j))
    }

    /// The first agent after `i` still to be ordered that has groups for the group bound.
    fn next_grouped(&self, i: usize) -> Option<usize> {
        (i + 1..self.prefix.len())
            .find(|&j| self.prefix[j].len() < self.p.shape[j])
            .filter(|&j| !self.p.groups.get(j).is_none_or(Vec::is_empty))
    }

    /// Prepares the group bounds of a node whose next agent is `i`: at the first node of
    /// agent `i`'s stage, the bounds handed down for `i`'s groups become the stage's own
    /// costs, and the costs of the next agent's groups are computed exactly.
    fn enter(&mut self, depth: usize, i: usize, next: Option<usize>) -> Result<()> {
        if self.costs_agent[depth] == Some(i) {
            let costs = std::mem::take(&mut self.costs[depth]);
            let n = costs.len();
            self.own[i] = Some((costs, vec![false; n]));
            self.costs_agent[depth] = None;
        }
        if let Some(j) = next {
            if self.costs_agent[depth] != Some(j) {
                let mut costs = std::mem::take(&mut self.costs[depth]);
                let r = self.p.all_group_costs(j, &self.prefix, &mut costs);
                self.costs[depth] = costs;
                r?;
                self.costs_agent[depth] = Some(j);
            }
        }
        Ok(())
    }

    /// A lower bound for the subtree of the current prefix (agent `i` being built, `next`
    /// the next agent with groups): the larger of agent `i`'s own group bound and either the
    /// next agent's group bound (refined lazily; the refined costs are appended to
    /// `child_costs`) or, for the last agent, the plain relaxation. The group bound of the
    /// next agent is at least the plain relaxation, which then decomposes over its actions.
    fn node_bound(
        &mut self,
        depth: usize,
        i: usize,
        next: Option<usize>,
        child_costs: &mut Vec<f64>,
    ) -> Result<f64> {
        let mut bound = 0.0;
        if let Some((mut costs, mut exact)) = self.own[i].take() {
            let r = self
                .p
                .own_group_bound(i, &self.prefix, &mut costs, &mut exact);
            self.own[i] = Some((costs, exact));
            bound = r?;
        }
        match next {
            Some(j) => {
                if self.prunes(bound) {
                    child_costs.extend_from_slice(&self.costs[depth]);
                } else {
                    let parent = std::mem::take(&mut self.costs[depth]);
                    let r = self.p.next_group_bound(
                        j,
                        &self.prefix,
                        &parent,
                        child_costs,
                        self.best_sse,
                    );
                    self.costs[depth] = parent;
                    bound = bound.max(r?);
                }
            }
            None => {
                if !self.prunes(bound) {
                    bound = bound.max(self.p.eval(&self.prefix)?);
                }
            }
        }
        Ok(bound)
    }

    fn explore(&mut self, depth: usize, node_bound: f64) -> Result<()> {
        let Some(i) = self.next_agent() else {
            return Ok(());
        };
        let m = self.p.shape[i];
        let next = if self.use_bounds {
            self.next_grouped(i)
        } else {
            None
        };
        if self.use_bounds {
            self.enter(depth, i, next)?;
        }
        let width = next.map_or(0, |j| self.p.group_len(j));
        let mut kids = std::mem::take(&mut self.children[depth]);
        kids.clear();
        let mut child_costs = std::mem::take(&mut self.child_costs[depth]);
        child_costs.clear();
        for a in 0..m {
            if self.placed[i] >> a & 1 == 1 || self.st.before[i][a] & !self.placed[i] != 0 {
                continue;
            }
            self.push(i, a);
            if !self.lex_ok(i) {
                self.pop(i);
                continue;
            }
            let leaf = self.is_leaf();
            if leaf || self.use_bounds {
                if self.p.exhausted() {
                    self.pop(i);
                    self.aborted = true;
                    self.frontier = self.frontier.min(node_bound);
                    break;
                }
                let offset = child_costs.len();
                let s = if leaf {
                    self.p.eval(&self.prefix)?
                } else {
                    self.node_bound(depth, i, next, &mut child_costs)?
                };
                if leaf && improves(s, self.best_sse) {
                    self.best_sse = s;
                    self.best_orders = self.prefix.clone();
                }
                self.pop(i);
                if !leaf && !self.prunes(s) {
                    kids.push((s, a, offset));
                } else {
                    child_costs.truncate(offset);
                }
            } else {
                self.pop(i);
                kids.push((node_bound, a, 0));
            }
        }
        if !self.aborted {
            if self.use_bounds {
                kids.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            }
            for &(b, a, offset) in &kids {
                if self.use_bounds && self.prunes(b) {
                    continue;
                }
                if self.aborted {
                    self.frontier = self.frontier.min(b);
                    continue;
                }
                self.push(i, a);
                if self.use_bounds {
                    let c = &mut self.costs[depth + 1];
                    c.clear();
                    c.extend_from_slice(&child_costs[offset..offset + width]);
                    self.costs_agent[depth + 1] = next;
                }
                let r = self.explore(depth + 1, b);
                self.pop(i);
                r?;
            }
        }
        self.children[depth] = kids;
        self.child_costs[depth] = child_costs;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::local_search::multi_start_local_search;
    use super::super::problem::Limits;
    use super::super::project::{observations, project_qmix};
    use super::super::QmixOptions;
    use super::*;
    use crate::fixtures::climbing;
    use crate::table::JointTable;
    use approx::assert_abs_diff_eq;

    #[test]
    fn climbing_projection() {
        let q = climbing();
        let r = project_qmix(&q, &QmixOptions::default()).unwrap();
        assert!(r.exact);
        assert!((r.mse - 110.8241).abs() < 5e-5, "mse {}", r.mse);
        assert_eq!(r.q_tot.argmax_set(), vec![8]);
        // Branch-and-bound reaches the same optimum as enumeration.
        let mut p = Problem::new(vec![3, 3], observations(&q, None).unwrap(), Limits::NONE);
        let st = Structure::analyze(&p).unwrap();
        let (o, s) = multi_start_local_search(&mut p).unwrap();
        let mut tree = Tree::new(&mut p, &st, true, s, o);
        tree.run().unwrap();
        assert!(!tree.aborted);
        assert_abs_diff_eq!(tree.best_sse, r.sse, epsilon = 1e-9);
    }

    /// Branch-and-bound started without an incumbent (so every pruning decision rests on the
    /// bounds) agrees with plain enumeration of every ordering, on games with ties, identical
    /// and dominated actions and symmetric agents.
    #[test]
    fn branch_and_bound_without_incumbent_matches_full_enumeration() {
        let mut seed = 0x1234_5678_u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as i64
        };
        // Agents with more than GROUP_MAX actions get several groups.
        let shapes: [&[usize]; 10] = [
            &[2, 4],
            &[3, 3],
            &[4, 4],
            &[2, 2, 3],
            &[3, 4],
            &[4, 2, 2],
            &[2, 6],
            &[3, 5],
            &[5, 3],
            &[2, 2, 5],
        ];
        for shape in shapes {
            for case in 0..16 {
                let mut q =
                    JointTable::from_fn(shape.to_vec(), |_| (next() % 7 - 3) as f64).unwrap();
                if case % 3 == 1 && shape[0] == shape[1] {
                    let q0 = q.clone();
                    q = JointTable::from_fn(shape.to_vec(), |u| {
                        let mut v = u.to_vec();
                        v.swap(0, 1);
                        q0.get(&v) + q0.get(u)
                    })
                    .unwrap();
                }
                // Penalty-like: a function of the pattern of the joint action (all equal, how
                // many agents play 0, how many distinct actions), unchanged when actions ≥ 1
                // are relabelled in every agent at once (jointly interchangeable actions).
                let pattern = |u: &[usize]| {
                    let mut v = u.to_vec();
                    v.sort_unstable();
                    v.dedup();
                    let zeros = u.iter().filter(|&&a| a == 0).count();
                    (v.len() == 1) as usize * 16 + zeros * 4 + v.len()
                };
                let penalty_like = case % 4 >= 2;
                let mut r = [0.0f64; 64];
                if penalty_like {
                    r.iter_mut().for_each(|v| *v = (next() % 7 - 3) as f64);
                    q = JointTable::from_fn(shape.to_vec(), |u| r[pattern(u) % 64]).unwrap();
                }
                let weights: Option<Vec<f64>> = (case % 2 == 1).then(|| {
                    if penalty_like {
                        let rw: Vec<f64> = (0..64).map(|_| (next() % 3) as f64 * 0.5).collect();
                        (0..q.len())
                            .map(|k| rw[pattern(&q.joint_action(k)) % 64])
                            .collect()
                    } else {
                        (0..q.len()).map(|_| (next() % 3) as f64 * 0.5).collect()
                    }
                });
                if weights
                    .as_ref()
                    .is_some_and(|w| w.iter().sum::<f64>() <= 0.0)
                {
                    continue;
                }
                let obs = observations(&q, weights.as_deref()).unwrap();
                let mut p = Problem::new(shape.to_vec(), obs, Limits::NONE);
                let st = Structure::analyze(&p).unwrap();
                let mut all = Tree::new(&mut p, &st, false, f64::INFINITY, vec![]);
                all.run().unwrap();
                let want = all.best_sse;
                // No reductions at all: every ordering.
                let plain = Structure {
                    before: shape.iter().map(|&m| vec![0; m]).collect(),
                    sym_prev: vec![None; shape.len()],
                    sym_next: vec![None; shape.len()],
                };
                let mut every = Tree::new(&mut p, &plain, false, f64::INFINITY, vec![]);
                every.run().unwrap();
                assert_abs_diff_eq!(every.best_sse, want, epsilon = 1e-9);
                let identity: Vec<Vec<usize>> = shape.iter().map(|&m| (0..m).collect()).collect();
                p.prepare_groups(&identity).unwrap();
                let mut tree = Tree::new(&mut p, &st, true, f64::INFINITY, vec![]);
                tree.run().unwrap();
                assert!(!tree.aborted);
                assert_abs_diff_eq!(tree.best_sse, want, epsilon = 1e-9);
                let best_orders = tree.best_orders.clone();
                let sse = p.eval(&best_orders).unwrap();
                assert_abs_diff_eq!(sse, want, epsilon = 1e-9);
            }
        }
    }
}
