//! The group bounds of the branch-and-bound (module docs): one agent's actions in groups
//! ([`Group`]) with every orientation's cost, the *next-group* bound for an agent still
//! unconstrained and the *own-group* bound for the agent being built.

use super::problem::{improves, Problem};
use crate::error::Result;
use crate::isotonic::Observations;

/// Largest group of the second agent's actions in the group bound (module docs): each group
/// costs up to `GROUP_MAX!` regressions per node of the branch-and-bound.
pub const GROUP_MAX: usize = 4;

impl Problem {
    /// The cost of orientation `o` of agent `j`'s group `g`: the regression of the group's
    /// sub-table under `prefixes`, with agent `j` restricted to the group and ordered by `o`
    /// (every agent after `j` must be unconstrained in `prefixes`, every agent between the one
    /// being built and `j` complete).
    fn group_cost(
        &mut self,
        groups: &[Group],
        g: usize,
        o: usize,
        prefixes: &[Vec<usize>],
        j: usize,
    ) -> Result<f64> {
        let group = &groups[g];
        self.sub_prefixes.resize_with(prefixes.len(), Vec::new);
        for (sub, pre) in self.sub_prefixes.iter_mut().zip(prefixes) {
            sub.clear();
            sub.extend_from_slice(pre);
        }
        self.sub_prefixes[j].clear();
        self.sub_prefixes[j].extend_from_slice(&group.perms[o]);
        self.sub_x.resize(group.obs.len(), 0.0);
        self.evaluations += 1;
        self.solver.solve_prefixes(
            &group.shape,
            &self.sub_prefixes,
            &group.obs,
            &mut self.sub_x,
        )
    }

    /// Every orientation's cost of agent `j`'s groups under `prefixes` (see
    /// [`Problem::group_cost`]), concatenated group after group into `out`.
    pub(super) fn all_group_costs(
        &mut self,
        j: usize,
        prefixes: &[Vec<usize>],
        out: &mut Vec<f64>,
    ) -> Result<()> {
        out.clear();
        let groups = std::mem::take(&mut self.groups[j]);
        let mut result = Ok(());
        'groups: for g in 0..groups.len() {
            for o in 0..groups[g].perms.len() {
                match self.group_cost(&groups, g, o, prefixes, j) {
                    Ok(v) => out.push(v),
                    Err(e) => {
                        result = Err(e);
                        break 'groups;
                    }
                }
            }
        }
        self.groups[j] = groups;
        result
    }

    /// The *group bound* for agent `j` (a later agent, still unconstrained) at a node:
    /// every completion orders each of `j`'s groups one way, and its SSE on the group's cells
    /// is at least the group's regression under the node's prefixes and that orientation; the
    /// groups partition the table, so `Σ_g min_o cost(g, o)` bounds the subtree from below.
    ///
    /// `parent` holds lower bounds of every orientation's cost that hold at this node
    /// (costs only grow down the tree, as constraints are added). They are refined lazily:
    /// orientations are computed in increasing order of their bounds until the next bound is
    /// not below the smallest cost found, which then is the group's exact minimum. The refined
    /// bounds are appended to `child`. Once the groups done plus the bounds of the others
    /// reach `cutoff`, the rest keep their parent bounds and the partial sum is returned
    /// (still a valid lower bound, and enough to prune).
    pub(super) fn next_group_bound(
        &mut self,
        j: usize,
        prefixes: &[Vec<usize>],
        parent: &[f64],
        child: &mut Vec<f64>,
        cutoff: f64,
    ) -> Result<f64> {
        let start = child.len();
        child.extend_from_slice(parent);
        let groups = std::mem::take(&mut self.groups[j]);
        let mut pending: f64 = groups
            .iter()
            .map(|g| {
                parent[g.offset..g.offset + g.perms.len()]
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min)
            })
            .sum();
        let mut total = 0.0;
        let mut result = Ok(());
        for (gi, g) in groups.iter().enumerate() {
            let lbs = &mut child[start + g.offset..start + g.offset + g.perms.len()];
            let parent_min = lbs.iter().copied().fold(f64::INFINITY, f64::min);
            self.done.clear();
            self.done.resize(lbs.len(), false);
            let mut best = f64::INFINITY;
            loop {
                let mut pick = None;
                for (o, &v) in lbs.iter().enumerate() {
                    if !self.done[o] && v < best && pick.is_none_or(|(_, pv)| v < pv) {
                        pick = Some((o, v));
                    }
                }
                let Some((o, lb)) = pick else { break };
                match self.group_cost(&groups, gi, o, prefixes, j) {
                    Ok(v) => {
                        let v = v.max(lb);
                        lbs[o] = v;
                        self.done[o] = true;
                        best = best.min(v);
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            if result.is_err() {
                break;
            }
            total += best;
            pending -= parent_min;
            if !improves(total + pending.max(0.0), cutoff) {
                total += pending.max(0.0);
                break;
            }
        }
        self.groups[j] = groups;
        result.map(|()| total)
    }

    /// The group bound for agent `i` while its own order is being built (every earlier
    /// agent complete, every later one unconstrained): the orientations of each group that
    /// agree with `prefix` (its members in the prefix come first, in the prefix's order), the
    /// cheapest of them per group, summed. `costs` and `exact` hold the stage's orientation
    /// costs (fixed while agent `i` is built), refined lazily as in
    /// [`Problem::next_group_bound`].
    pub(super) fn own_group_bound(
        &mut self,
        i: usize,
        prefixes: &[Vec<usize>],
        costs: &mut [f64],
        exact: &mut [bool],
    ) -> Result<f64> {
        let groups = std::mem::take(&mut self.groups[i]);
        let prefix = &prefixes[i];
        let mut total = 0.0;
        let mut result = Ok(());
        'groups: for (gi, g) in groups.iter().enumerate() {
            // The group's members in the prefix, as local indices in prefix order.
            self.placed_local.clear();
            for &a in prefix {
                if let Some(l) = g.actions.iter().position(|&b| b == a) {
                    self.placed_local.push(l);
                }
            }
            let k = self.placed_local.len();
            loop {
                let mut pick = None;
                for (o, perm) in g.perms.iter().enumerate() {
                    let v = costs[g.offset + o];
                    if perm[..k] == self.placed_local[..] && pick.is_none_or(|(_, pv)| v < pv) {
                        pick = Some((o, v));
                    }
                }
                let (o, v) = pick.expect("invariant: the prefix's own orientation agrees");
                if exact[g.offset + o] {
                    total += v;
                    break;
                }
                match self.group_cost(&groups, gi, o, prefixes, i) {
                    Ok(c) => {
                        costs[g.offset + o] = c.max(v);
                        exact[g.offset + o] = true;
                    }
                    Err(e) => {
                        result = Err(e);
                        break 'groups;
                    }
                }
            }
        }
        self.groups[i] = groups;
        result.map(|()| total)
    }

    /// Splits the actions of every agent after the first into groups for the group bound.
    /// The second agent's: all of them when there are at most [`GROUP_MAX`], else groups of
    /// [`GROUP_MAX`] (and one smaller remainder) built greedily from the pairs in strongest
    /// conflict under the incumbent `orders` (the smaller SSE of the pair's two orientations
    /// with every other agent ordered as in `orders`). Later agents': single actions.
    pub(super) fn prepare_groups(&mut self, orders: &[Vec<usize>]) -> Result<()> {
        let nag = self.shape.len();
        self.groups = (0..nag).map(|_| Vec::new()).collect();
        for agent in 1..nag {
            let m = self.shape[agent];
            if m < 2 {
                continue;
            }
            // Groups of the second agent are regressed with one agent constrained before them
            // (grid dynamic programme); for later agents they would need maximum flows, which
            // cost more than the bound saves (measured on 3 × 5 and 4 × 4), so their actions
            // stay single (the bound is then the plain relaxation, one small part at a time).
            let gmax = if agent == 1 { GROUP_MAX } else { 1 };
            let sets: Vec<Vec<usize>> = if m <= gmax {
                vec![(0..m).collect()]
            } else if gmax == 1 {
                (0..m).map(|a| vec![a]).collect()
            } else {
                // score[b][b2]: the conflict of the pair (symmetric).
                let mut score = vec![vec![0.0; m]; m];
                let pairs: Vec<(usize, usize)> = (0..m)
                    .flat_map(|b| (b + 1..m).map(move |b2| (b, b2)))
                    .collect();
                for (b, b2) in pairs {
                    let pair = Group::new(self, agent, &[b, b2], 0)?;
                    let mut best = f64::INFINITY;
                    for o in 0..2 {
                        let mut sub = orders.to_vec();
                        sub[agent].clone_from(&pair.perms[o]);
                        self.sub_x.resize(pair.obs.len(), 0.0);
                        let v = self.solver.solve_prefixes(
                            &pair.shape,
                            &sub,
                            &pair.obs,
                            &mut self.sub_x,
                        )?;
                        self.evaluations += 1;
                        best = best.min(v);
                    }
                    score[b][b2] = best;
                    score[b2][b] = best;
                }
                let mut used = vec![false; m];
                let mut sets = Vec::new();
                while used.iter().any(|u| !u) {
                    let free: Vec<usize> = (0..m).filter(|&a| !used[a]).collect();
                    let mut set = Vec::new();
                    if free.len() > 1 {
                        // Seed: the free pair in strongest conflict.
                        let mut seed = (f64::NEG_INFINITY, free[0], free[1]);
                        for (x, &b) in free.iter().enumerate() {
                            for &b2 in &free[x + 1..] {
                                if score[b][b2] > seed.0 {
                                    seed = (score[b][b2], b, b2);
                                }
                            }
                        }
                        set.push(seed.1);
                        set.push(seed.2);
                        used[seed.1] = true;
                        used[seed.2] = true;
                    } else {
                        set.push(free[0]);
                        used[free[0]] = true;
                    }
                    while set.len() < gmax {
                        let best = (0..m).filter(|&a| !used[a]).max_by(|&a, &b| {
                            let sa: f64 = set.iter().map(|&c| score[a][c]).sum();
                            let sb: f64 = set.iter().map(|&c| score[b][c]).sum();
                            sa.total_cmp(&sb).then(b.cmp(&a))
                        });
                        let Some(a) = best else { break };
                        set.push(a);
                        used[a] = true;
                    }
                    set.sort_unstable();
                    sets.push(set);
                }
                sets
            };
            let mut offset = 0;
            let mut groups = Vec::with_capacity(sets.len());
            for set in sets {
                let g = Group::new(self, agent, &set, offset)?;
                offset += g.perms.len();
                groups.push(g);
            }
            self.groups[agent] = groups;
        }
        Ok(())
    }

    /// Number of orientation costs of agent `j`'s groups.
    pub(super) fn group_len(&self, j: usize) -> usize {
        self.groups[j].iter().map(|g| g.perms.len()).sum()
    }
}

/// A group of one agent's actions for the group bound: the sub-table of the cells whose
/// action of that agent is in the group, and every order of the group.
#[derive(Debug, Clone)]
pub(super) struct Group {
    /// The group's actions, by local index.
    actions: Vec<usize>,
    shape: Vec<usize>,
    obs: Observations,
    /// Every permutation of the local indices `0..actions.len()` (lowest first).
    perms: Vec<Vec<usize>>,
    /// Position of this group's first orientation among all of its agent's orientations.
    offset: usize,
}

impl Group {
    fn new(p: &Problem, agent: usize, actions: &[usize], offset: usize) -> Result<Group> {
        let mut shape = p.shape.clone();
        shape[agent] = actions.len();
        let strides = p.strides();
        let n: usize = shape.iter().product();
        let (mut y, mut w) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut u = vec![0usize; shape.len()];
        for _ in 0..n {
            let k: usize = (0..u.len())
                .map(|i| if i == agent { actions[u[i]] } else { u[i] } * strides[i])
                .sum();
            y.push(p.obs.y()[k]);
            w.push(p.obs.w()[k]);
            crate::table::increment(&mut u, &shape);
        }
        Ok(Group {
            actions: actions.to_vec(),
            shape,
            obs: Observations::new(y, Some(w))?,
            perms: permutations(actions.len()),
            offset,
        })
    }
}

/// Every permutation of `0..m`, in lexicographic order.
pub(super) fn permutations(m: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur: Vec<usize> = (0..m).collect();
    loop {
        out.push(cur.clone());
        // Next permutation in lexicographic order.
        let Some(k) = (0..m.saturating_sub(1))
            .rev()
            .find(|&k| cur[k] < cur[k + 1])
        else {
            return out;
        };
        let l = (k + 1..m)
            .rev()
            .find(|&l| cur[k] < cur[l])
            .expect("invariant: cur[k + 1] is larger");
        cur.swap(k, l);
        cur[k + 1..].reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::super::problem::Limits;
    use super::super::project::observations;
    use super::*;
    use crate::isotonic::check_permutation;
    use crate::rng::SplitMix64;
    use crate::table::JointTable;
    use approx::assert_abs_diff_eq;

    /// Every bound of the branch-and-bound is at most the best completion of its node, by
    /// brute force over all completions: the plain relaxation, the next agent's group bound
    /// (computed from scratch and refined lazily from the parent's costs, which must agree)
    /// and the agent's own group bound, at random nodes of every stage, on tables whose
    /// agents have several groups.
    #[test]
    fn group_bounds_are_below_every_completion() {
        let mut rng = SplitMix64::new(77);
        let shapes: [&[usize]; 6] = [
            &[5, 5],
            &[2, 6],
            &[6, 3],
            &[3, 2, 5],
            &[2, 5, 2],
            &[5, 1, 3],
        ];
        let perms_of = |m: usize| permutations(m);
        for shape in shapes {
            let nag = shape.len();
            for case in 0..16 {
                let q = JointTable::from_fn(shape.to_vec(), |_| (rng.next_u64() % 9) as f64 - 4.0)
                    .unwrap();
                let weights: Option<Vec<f64>> = (case % 3 == 1)
                    .then(|| (0..q.len()).map(|_| (rng.next_u64() % 3) as f64).collect());
                if weights
                    .as_ref()
                    .is_some_and(|w| w.iter().sum::<f64>() <= 0.0)
                {
                    continue;
                }
                let obs = observations(&q, weights.as_deref()).unwrap();
                let mut p = Problem::new(shape.to_vec(), obs, Limits::NONE);
                let incumbent: Vec<Vec<usize>> =
                    shape.iter().map(|&m| rng.permutation(m)).collect();
                p.prepare_groups(&incumbent).unwrap();
                // A node: agent i being built (prefix of 1..m−1 actions), earlier agents
                // complete, later ones free (single-action agents are always complete).
                let buildable: Vec<usize> = (0..nag).filter(|&i| shape[i] > 1).collect();
                let i = buildable[(rng.next_u64() % buildable.len() as u64) as usize];
                let mut prefixes: Vec<Vec<usize>> = (0..nag)
                    .map(|j| match j.cmp(&i) {
                        std::cmp::Ordering::Less => rng.permutation(shape[j]),
                        _ if shape[j] == 1 => vec![0],
                        _ => vec![],
                    })
                    .collect();
                let order_i = rng.permutation(shape[i]);
                let k = 1 + (rng.next_u64() % (shape[i] as u64 - 1)) as usize;
                prefixes[i] = order_i[..k].to_vec();
                // Brute force: every completion.
                let mut best = f64::INFINITY;
                let rest_i: Vec<usize> =
                    (0..shape[i]).filter(|a| !prefixes[i].contains(a)).collect();
                let mut choices: Vec<Vec<Vec<usize>>> = vec![perms_of(rest_i.len())
                    .into_iter()
                    .map(|pm| {
                        let mut o = prefixes[i].clone();
                        o.extend(pm.iter().map(|&l| rest_i[l]));
                        o
                    })
                    .collect()];
                for &m in &shape[i + 1..] {
                    choices.push(perms_of(m));
                }
                let mut pick = vec![0usize; choices.len()];
                loop {
                    let mut full = prefixes[..i].to_vec();
                    for (c, &x) in choices.iter().zip(&pick) {
                        full.push(c[x].clone());
                    }
                    best = best.min(p.eval(&full).unwrap());
                    let mut d = pick.len();
                    while d > 0 {
                        d -= 1;
                        pick[d] += 1;
                        if pick[d] < choices[d].len() {
                            break;
                        }
                        pick[d] = 0;
                    }
                    if pick.iter().all(|&x| x == 0) {
                        break;
                    }
                }
                let tol = 1e-9 * (1.0 + best);
                let plain = p.eval(&prefixes).unwrap();
                assert!(plain <= best + tol, "plain {plain} > {best}");
                if let Some(j) = (i + 1..nag).find(|&j| shape[j] > 1) {
                    let width = p.group_len(j);
                    let mut from_scratch = Vec::new();
                    let b0 = p
                        .next_group_bound(
                            j,
                            &prefixes,
                            &vec![0.0; width],
                            &mut from_scratch,
                            f64::INFINITY,
                        )
                        .unwrap();
                    let mut parent_prefixes = prefixes.clone();
                    parent_prefixes[i].pop();
                    let mut parent = Vec::new();
                    p.all_group_costs(j, &parent_prefixes, &mut parent).unwrap();
                    let mut lazy = Vec::new();
                    let b1 = p
                        .next_group_bound(j, &prefixes, &parent, &mut lazy, f64::INFINITY)
                        .unwrap();
                    assert!(b0 <= best + tol, "{shape:?} next-group bound {b0} > {best}");
                    assert_abs_diff_eq!(b0, b1, epsilon = tol);
                    assert!(b0 >= plain - tol, "group bound {b0} below plain {plain}");
                    // The refined costs stay lower bounds of the exact ones.
                    let mut exact_costs = Vec::new();
                    p.all_group_costs(j, &prefixes, &mut exact_costs).unwrap();
                    for (l, e) in lazy.iter().zip(&exact_costs) {
                        assert!(*l <= e + tol, "refined cost {l} above exact {e}");
                    }
                }
                if i > 0 && !p.groups[i].is_empty() {
                    let mut stage_root = prefixes.clone();
                    stage_root[i].clear();
                    let mut costs = Vec::new();
                    p.all_group_costs(i, &stage_root, &mut costs).unwrap();
                    let mut exact = vec![false; costs.len()];
                    let own = p
                        .own_group_bound(i, &prefixes, &mut costs, &mut exact)
                        .unwrap();
                    assert!(
                        own <= best + tol,
                        "{shape:?} own-group bound {own} > {best}"
                    );
                }
            }
        }
    }

    #[test]
    fn permutations_are_listed_once_each() {
        for m in 0..6 {
            let ps = permutations(m);
            let expect: usize = (1..=m).product();
            assert_eq!(ps.len(), expect);
            let mut sorted = ps.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), ps.len());
            assert!(ps.iter().all(|p| check_permutation(p, m, "p").is_ok()));
        }
    }
}
