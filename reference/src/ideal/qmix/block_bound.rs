//! The block lower bound for a result the search could not prove optimal (module docs): the
//! exact projections (or lower bounds) of the sub-grids formed by one small group of actions
//! per agent.

use super::problem::{Limits, Problem};
use super::project::project;
use crate::error::Result;
use crate::table::JointTable;

/// Most regressions for one block of the block bound (a block not solved exactly within it
/// contributes its own lower bound).
const BLOCK_MAX_EVALUATIONS: u64 = 20_000;

/// The block lower bound (module docs) for the best of a few groupings of the actions:
/// consecutive in index order, consecutive in `orders`, and strided in `orders`. Each block
/// contributes its exact projection's SSE, or a lower bound on it when its search stops
/// (0 once `p`'s work budget is spent), so every grouping gives a valid bound.
pub(super) fn block_bound(p: &mut Problem, orders: &[Vec<usize>]) -> Result<Option<f64>> {
    let shape = &p.shape;
    let n = p.obs.len() as f64;
    let nag = shape.len() as i32;
    // Group size: 3 where the work stays modest, else 2.
    let g = if n * 6f64.powi(nag) <= 5e6 {
        3
    } else if n * 2f64.powi(nag) <= 5e6 {
        2
    } else {
        return Ok(None);
    };
    if shape.iter().all(|&m| m <= g) {
        return Ok(None); // one block would be the whole problem
    }
    let group = |seq: &[usize], strided: bool| -> Vec<Vec<usize>> {
        let m = seq.len();
        let count = m.div_ceil(g);
        if strided {
            (0..count)
                .map(|j| (j..m).step_by(count).map(|pos| seq[pos]).collect())
                .collect()
        } else {
            seq.chunks(g).map(<[usize]>::to_vec).collect()
        }
    };
    let index_orders: Vec<Vec<usize>> = shape.iter().map(|&m| (0..m).collect()).collect();
    let groupings: Vec<Vec<Vec<Vec<usize>>>> = vec![
        index_orders.iter().map(|o| group(o, false)).collect(),
        orders.iter().map(|o| group(o, false)).collect(),
        orders.iter().map(|o| group(o, true)).collect(),
    ];
    let strides = p.strides();
    let mut best: Option<f64> = None;
    for groups in groupings {
        let counts: Vec<usize> = groups.iter().map(Vec::len).collect();
        let mut pick = vec![0usize; shape.len()];
        let mut total = 0.0;
        loop {
            let sub_shape: Vec<usize> =
                (0..shape.len()).map(|i| groups[i][pick[i]].len()).collect();
            let sub = JointTable::from_fn(sub_shape.clone(), |v| {
                let k: usize = (0..v.len())
                    .map(|i| groups[i][pick[i]][v[i]] * strides[i])
                    .sum();
                p.obs.y()[k]
            })?;
            let mut sub_w = Vec::with_capacity(sub.len());
            let mut v = vec![0usize; sub_shape.len()];
            for _ in 0..sub.len() {
                let k: usize = (0..v.len())
                    .map(|i| groups[i][pick[i]][v[i]] * strides[i])
                    .sum();
                sub_w.push(p.obs.w()[k]);
                crate::table::increment(&mut v, &sub_shape);
            }
            let remaining = p.limits.work.saturating_sub(p.work());
            if sub_w.iter().sum::<f64>() > 0.0 && remaining > 0 {
                // No deadline: the bound is worth its (bounded) work even past a time limit.
                let limits = Limits {
                    evaluations: BLOCK_MAX_EVALUATIONS,
                    work: remaining,
                    deadline: None,
                };
                let (r, work) = project(&sub, Some(&sub_w), limits)?;
                p.extra_work = p.extra_work.saturating_add(work);
                total += r.lower_bound.unwrap_or(0.0).max(0.0);
            }
            crate::table::increment(&mut pick, &counts);
            if pick.iter().all(|&c| c == 0) {
                break;
            }
        }
        best = Some(best.map_or(total, |b: f64| b.max(total)));
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::super::project::{observations, project_qmix};
    use super::super::QmixOptions;
    use super::*;

    #[test]
    fn block_bound_is_below_the_optimum() {
        let q = JointTable::from_fn(vec![4, 5], |u| {
            (((u[0] * 5 + u[1] * 11) * 40503usize) % 17) as f64
        })
        .unwrap();
        let full = project_qmix(&q, &QmixOptions::default()).unwrap();
        assert!(full.exact);
        let mut p = Problem::new(vec![4, 5], observations(&q, None).unwrap(), Limits::NONE);
        let b = block_bound(&mut p, &full.orders).unwrap().unwrap();
        assert!(b <= full.sse + 1e-9);
        assert!(b > 0.0, "the bound should see some non-monotonicity");
    }
}
