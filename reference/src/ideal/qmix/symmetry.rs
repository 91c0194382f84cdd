//! The symmetry and dominance reductions of the exact search (module docs): dominated
//! actions, swap-symmetric agents and jointly interchangeable actions, found by exact
//! comparisons ([`Structure`]).

use super::problem::Problem;

/// Joint relabellings try every subset of the later agents up to this many agents, else only
/// none or all of them.
const JOINT_SUBSETS_MAX_AGENTS: usize = 6;

/// Exact equality of floats without tripping `float_cmp` (`-0.0` equals `0.0`).
fn same(a: f64, b: f64) -> bool {
    a <= b && b <= a
}

/// Symmetry and dominance reductions (see the module docs).
pub(super) struct Structure {
    /// `before[i][a]`: bit mask of agent `i`'s actions that must precede `a`.
    pub(super) before: Vec<Vec<u64>>,
    /// The previous agent in the same class of swap-symmetric agents.
    pub(super) sym_prev: Vec<Option<usize>>,
    /// The next agent in the same class.
    pub(super) sym_next: Vec<Option<usize>>,
}

impl Structure {
    /// `None` when some agent has more than 64 actions (no exact search then).
    pub(super) fn analyze(p: &Problem) -> Option<Structure> {
        let shape = &p.shape;
        if shape.iter().any(|&m| m > 64) {
            return None;
        }
        let (y, w) = (p.obs.y(), p.obs.w());
        let n = y.len();
        let strides = p.strides();
        let nag = shape.len();
        // slice_le(i, b, a): slice b ≤ slice a (equal weights per column).
        let slice_le = |i: usize, b: usize, a: usize| -> bool {
            let s = strides[i];
            let block = s * shape[i];
            (0..n).step_by(block).all(|hi| {
                (hi + b * s..hi + b * s + s).all(|k| {
                    let k2 = k - b * s + a * s;
                    same(w[k], w[k2]) && (w[k] <= 0.0 || y[k] <= y[k2])
                })
            })
        };
        let mut before: Vec<Vec<u64>> = (0..nag)
            .map(|i| {
                let m = shape[i];
                (0..m)
                    .map(|a| {
                        let mut mask = 0u64;
                        for b in (0..m).filter(|&b| b != a) {
                            if slice_le(i, b, a) && (!slice_le(i, a, b) || b < a) {
                                mask |= 1 << b;
                            }
                        }
                        mask
                    })
                    .collect()
            })
            .collect();
        // Joint relabellings: swapping actions c < d of agent j, and of some later agents
        // too, leaves the table unchanged. `Some(joint)` when it does (`joint`: only with
        // some later agent swapped as well, i.e. the slices are not identical).
        let invariant = |j: usize, c: usize, d: usize, later: &[usize]| -> bool {
            let mut u = vec![0usize; nag];
            (0..n).all(|k| {
                let mut k2 = k;
                for &i in std::iter::once(&j).chain(later) {
                    if u[i] == c {
                        k2 = k2 + d * strides[i] - c * strides[i];
                    } else if u[i] == d {
                        k2 = k2 + c * strides[i] - d * strides[i];
                    }
                }
                crate::table::increment(&mut u, shape);
                same(y[k], y[k2]) && same(w[k], w[k2])
            })
        };
        let interchangeable = |j: usize, c: usize, d: usize| -> Option<bool> {
            let candidates: Vec<usize> = (j + 1..nag).filter(|&i| shape[i] > d).collect();
            let subsets: Vec<u64> = if candidates.len() <= JOINT_SUBSETS_MAX_AGENTS {
                (0..1u64 << candidates.len()).collect()
            } else {
                vec![0, (1u64 << candidates.len()) - 1]
            };
            subsets.into_iter().find_map(|mask| {
                let later: Vec<usize> = (0..candidates.len())
                    .filter(|&b| mask >> b & 1 == 1)
                    .map(|b| candidates[b])
                    .collect();
                invariant(j, c, d, &later).then_some(mask != 0)
            })
        };
        let mut pairs: Vec<(usize, usize, usize)> = Vec::new();
        let mut joint_any = false;
        for (j, &m) in shape.iter().enumerate() {
            for c in 0..m {
                for d in c + 1..m {
                    if let Some(joint) = interchangeable(j, c, d) {
                        pairs.push((j, c, d));
                        joint_any |= joint;
                    }
                }
            }
        }
        if joint_any {
            // Lexicographic leaders only (module docs): c before d for every interchangeable
            // pair; dominance, which is no symmetry, is not combined with it.
            for (j, masks) in before.iter_mut().enumerate() {
                masks.iter_mut().for_each(|mask| *mask = 0);
                for &(_, c, d) in pairs.iter().filter(|&&(pj, _, _)| pj == j) {
                    masks[d] |= 1 << c;
                }
            }
        }
        let swap_symmetric = |i: usize, j: usize| -> bool {
            let mut u = vec![0usize; nag];
            (0..n).all(|k| {
                let k2 = k + u[j] * strides[i] + u[i] * strides[j]
                    - u[i] * strides[i]
                    - u[j] * strides[j];
                let ok = same(y[k], y[k2]) && same(w[k], w[k2]);
                crate::table::increment(&mut u, shape);
                ok
            })
        };
        let mut sym_prev = vec![None; nag];
        let mut sym_next = vec![None; nag];
        for j in 1..nag {
            if let Some(i) = (0..j)
                .rev()
                .find(|&i| shape[i] == shape[j] && swap_symmetric(i, j))
            {
                sym_prev[j] = Some(i);
                sym_next[i] = Some(j);
            }
        }
        Some(Structure {
            before,
            sym_prev,
            sym_next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::bounds::permutations;
    use super::super::problem::Limits;
    use super::super::project::{observations, project_qmix, project_qmix_with_orders};
    use super::super::QmixOptions;
    use super::*;
    use crate::fixtures::table1;
    use crate::table::JointTable;
    use approx::assert_abs_diff_eq;

    #[test]
    fn symmetry_and_dominance_are_detected() {
        let q = table1();
        let p = Problem::new(vec![3, 3], observations(&q, None).unwrap(), Limits::NONE);
        let st = Structure::analyze(&p).unwrap();
        // B and C are identical: B (1) before C (2); A is incomparable.
        assert_eq!(st.before[0], vec![0, 0, 1 << 1]);
        assert_eq!(st.sym_prev, vec![None, Some(0)]);
        let q = JointTable::new(vec![2, 2], vec![0.0, 1.0, 2.0, 8.0]).unwrap();
        let p = Problem::new(vec![2, 2], observations(&q, None).unwrap(), Limits::NONE);
        let st = Structure::analyze(&p).unwrap();
        assert_eq!(st.before[0], vec![0, 1]);
        assert_eq!(st.before[1], vec![0, 1]);
        assert_eq!(st.sym_prev, vec![None, None]);
        // Penalty game: relabelling a ↔ c for both agents at once is a symmetry (rows a and c
        // differ, no action dominates another): a before c for agent 1 only.
        let q = JointTable::new(
            vec![3, 3],
            vec![10.0, 0.0, -100.0, 0.0, 2.0, 0.0, -100.0, 0.0, 10.0],
        )
        .unwrap();
        let p = Problem::new(vec![3, 3], observations(&q, None).unwrap(), Limits::NONE);
        let st = Structure::analyze(&p).unwrap();
        assert_eq!(st.before[0], vec![0, 0, 1]);
        assert_eq!(st.before[1], vec![0, 0, 0]);
        assert_eq!(st.sym_prev, vec![None, Some(0)]);
        let r = project_qmix(&q, &QmixOptions::default()).unwrap();
        let every = (0..36)
            .map(|k| {
                let perms = permutations(3);
                let orders = [perms[k / 6].clone(), perms[k % 6].clone()];
                project_qmix_with_orders(&q, &orders, None).unwrap().sse
            })
            .fold(f64::INFINITY, f64::min);
        assert_abs_diff_eq!(r.sse, every, epsilon = 1e-9);
    }
}
