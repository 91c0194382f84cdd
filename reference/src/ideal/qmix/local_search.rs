//! The incumbent of the search, and its answer when the search cannot finish (module docs):
//! insertion moves scored by a monotone proxy, from several starts, then iterated local
//! search.

use super::problem::{improves, Problem};
use crate::error::Result;
use crate::isotonic::Observations;
use crate::rng::SplitMix64;
use std::time::Instant;

/// Local-search starts drawn at random (after the deterministic ones).
const RANDOM_STARTS: usize = 4;

/// Rounds of iterated local search after the starts (each: a kick of 2 to
/// [`ILS_KICK_MOVES`] random insertion moves, then a descent), within `1 / ILS_WORK_SHARE`
/// of the work left.
const ILS_ROUNDS: usize = 64;
/// Most random insertion moves in one kick of the iterated local search.
const ILS_KICK_MOVES: usize = 6;
/// The iterated local search uses at most this fraction (its inverse) of the work left (and
/// of the time left, under a time limit).
const ILS_WORK_SHARE: u64 = 10;

/// Moves the element at position `from` to position `to`.
fn move_element(order: &mut [usize], from: usize, to: usize) {
    if from < to {
        order[from..=to].rotate_left(1);
    } else {
        order[to..=from].rotate_right(1);
    }
}

/// Agent `i`'s actions sorted by `key` ascending (ties by index).
fn order_by(m: usize, key: impl Fn(usize) -> f64) -> Vec<usize> {
    let keys: Vec<f64> = (0..m).map(key).collect();
    let mut o: Vec<usize> = (0..m).collect();
    o.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]).then(a.cmp(&b)));
    o
}

/// Deterministic starts (orders by weighted marginal mean and by slice maximum) and seeded
/// random ones, each improved by first-improvement insertion moves until no move helps or the
/// budget ends. Returns the best ordering and its SSE.
pub(super) fn multi_start_local_search(p: &mut Problem) -> Result<(Vec<Vec<usize>>, f64)> {
    let shape = p.shape.clone();
    let strides = p.strides();
    let (y, w) = (p.obs.y().to_vec(), p.obs.w().to_vec());
    let (shape_ref, strides_ref) = (&shape, &strides);
    let slice = move |i: usize, a: usize| {
        let mut cells = Vec::new();
        slice_cells(shape_ref, strides_ref, i, a, &mut cells);
        cells.into_iter()
    };
    let mut starts: Vec<Vec<Vec<usize>>> = Vec::new();
    starts.push(
        (0..shape.len())
            .map(|i| {
                order_by(shape[i], |a| {
                    let (sw, swy) =
                        slice(i, a).fold((0.0, 0.0), |(sw, swy), k| (sw + w[k], swy + w[k] * y[k]));
                    if sw > 0.0 {
                        swy / sw
                    } else {
                        0.0
                    }
                })
            })
            .collect(),
    );
    starts.push(
        (0..shape.len())
            .map(|i| {
                order_by(shape[i], |a| {
                    slice(i, a)
                        .filter(|&k| w[k] > 0.0)
                        .map(|k| y[k])
                        .fold(f64::MIN, f64::max)
                })
            })
            .collect(),
    );
    let mut rng = SplitMix64::new(0x51AB_1E5E_ED00_0001);
    for _ in 0..RANDOM_STARTS {
        starts.push(shape.iter().map(|&m| rng.permutation(m)).collect());
    }
    let mut unique: Vec<Vec<Vec<usize>>> = Vec::with_capacity(starts.len());
    for start in starts {
        if !unique.contains(&start) {
            unique.push(start);
        }
    }
    let mut best: Option<Descent> = None;
    for (idx, start) in unique.into_iter().enumerate() {
        if idx > 0 && p.exhausted() {
            break;
        }
        let d = local_search(p, start)?;
        if best.as_ref().is_none_or(|b| improves(d.sse, b.sse)) {
            best = Some(d);
        }
    }
    let mut best = best.expect("invariant: the first start always runs");
    // Iterated local search: kick the best ordering with a few random insertion moves and
    // descend again, within a share of the remaining work budget.
    let share = p.limits.work.saturating_sub(p.work()) / ILS_WORK_SHARE;
    let ils_end = p.work().saturating_add(share);
    // Under a time limit, the same share of the time left.
    let now = Instant::now();
    let ils_deadline = p
        .limits
        .deadline
        .map(|d| now + d.saturating_duration_since(now) / ILS_WORK_SHARE as u32);
    let movable: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] > 2).collect();
    if !movable.is_empty() {
        for round in 0..ILS_ROUNDS {
            if p.exhausted()
                || p.work() >= ils_end
                || ils_deadline.is_some_and(|d| Instant::now() >= d)
            {
                break;
            }
            let mut kicked = best.orders.clone();
            for _ in 0..2 + round % (ILS_KICK_MOVES - 1) {
                let i = movable[(rng.next_u64() % movable.len() as u64) as usize];
                let m = shape[i] as u64;
                let from = (rng.next_u64() % m) as usize;
                let to = (rng.next_u64() % m) as usize;
                move_element(&mut kicked[i], from, to);
            }
            let d = local_search(p, kicked)?;
            if improves(d.sse, best.sse) {
                best = d;
            }
        }
    }
    p.best_fit = Some((best.orders.clone(), best.x));
    Ok((best.orders, best.sse))
}

/// An insertion move: agent `agent`'s action at position `from` moves to position `to`;
/// `proxy` is an upper bound on the SSE after the move (see [`proxy_moves`]).
#[derive(Debug, Clone, Copy)]
struct Move {
    agent: usize,
    from: usize,
    to: usize,
    proxy: f64,
}

/// The cells of agent `i`'s slice `u_i = a`, in row-major order of the other agents.
fn slice_cells(shape: &[usize], strides: &[usize], i: usize, a: usize, out: &mut Vec<usize>) {
    out.clear();
    let s = strides[i];
    let block = s * shape[i];
    let n: usize = shape.iter().product();
    let mut hi = 0;
    while hi < n {
        let base = hi + a * s;
        out.extend(base..base + s);
        hi += block;
    }
}

/// Every insertion move from `orders` (fit `x`, SSE `sse`) with a cheap upper bound on the
/// SSE it leads to: take action `a` of agent `i` out of the fit (the other slices stay
/// monotone) and put it back at its new position with the values
/// `clamp(t, x_prev, x_next)`, where `t` is the isotonic regression of `a`'s slice under the
/// other agents' orders and `x_prev ≤ x_next` are the fitted slices of its new neighbours
/// (pointwise ordered, and each monotone along the other agents, so the clamp is too). That
/// table is monotone under the new ordering, so its SSE bounds the regression's from above.
/// Costs `O(n · Σ m_i)` plus one small regression per slice, against one full regression
/// per move for an exact scan.
fn proxy_moves(
    p: &mut Problem,
    orders: &[Vec<usize>],
    x: &[f64],
    sse: f64,
    moves: &mut Vec<Move>,
) -> Result<()> {
    moves.clear();
    let shape = p.shape.clone();
    let strides = p.strides();
    let nag = shape.len();
    let mut cells = Vec::new();
    let mut t = Vec::new();
    let mut ops = 0u64;
    for i in 0..nag {
        let m = shape[i];
        if m < 2 {
            continue;
        }
        if m == 2 {
            // One move (the swap), costing one regression to evaluate exactly: a proxy would
            // cost about as much. It gets the neutral score `sse`.
            moves.push(Move {
                agent: i,
                from: 0,
                to: 1,
                proxy: sse,
            });
            continue;
        }
        let sub_shape: Vec<usize> = (0..nag).filter(|&j| j != i).map(|j| shape[j]).collect();
        let sub_orders: Vec<&[usize]> = (0..nag)
            .filter(|&j| j != i)
            .map(|j| orders[j].as_slice())
            .collect();
        for from in 0..m {
            if p.exhausted() {
                // Large tables: a slice's regression is costly; the scan stops with the
                // budget (the moves scored so far stay valid).
                p.extra_work = p.extra_work.saturating_add(ops);
                return Ok(());
            }
            let a = orders[i][from];
            slice_cells(&shape, &strides, i, a, &mut cells);
            let (y, w) = (p.obs.y(), p.obs.w());
            let ys: Vec<f64> = cells.iter().map(|&k| y[k]).collect();
            let ws: Vec<f64> = cells.iter().map(|&k| w[k]).collect();
            let current: f64 = cells
                .iter()
                .map(|&k| w[k] * (y[k] - x[k]) * (y[k] - x[k]))
                .sum();
            let obs = Observations::new(ys, Some(ws))?;
            t.resize(cells.len(), 0.0);
            p.solver
                .solve_prefixes(&sub_shape, &sub_orders, &obs, &mut t)?;
            let (ys, ws) = (obs.y(), obs.w());
            let s = strides[i];
            for to in 0..m {
                if to == from {
                    continue;
                }
                // The order without `a`, then `a` inserted at index `to`.
                let at = |q: usize| {
                    if q < from {
                        orders[i][q]
                    } else {
                        orders[i][q + 1]
                    }
                };
                let prev = (to > 0).then(|| at(to - 1));
                let next = (to + 1 < m).then(|| at(to));
                let mut cost = 0.0;
                for (j, &k) in cells.iter().enumerate() {
                    let base = k - a * s;
                    let mut v = t[j];
                    if let Some(b) = prev {
                        v = v.max(x[base + b * s]);
                    }
                    if let Some(b) = next {
                        v = v.min(x[base + b * s]);
                    }
                    cost += ws[j] * (ys[j] - v) * (ys[j] - v);
                }
                ops += cells.len() as u64;
                moves.push(Move {
                    agent: i,
                    from,
                    to,
                    proxy: sse - current + cost,
                });
            }
        }
    }
    p.extra_work = p.extra_work.saturating_add(ops);
    Ok(())
}

/// Local search over insertion moves from `start`: each round scores every move by its
/// proxy ([`proxy_moves`]); a move whose proxy already improves is taken at once (the exact
/// regression is at most the proxy), otherwise the moves are evaluated exactly in order of
/// their proxies and the first improving one is taken. Ends at a local optimum (no insertion
/// move improves by more than a tie) or when the budget is spent.
fn local_search(p: &mut Problem, start: Vec<Vec<usize>>) -> Result<Descent> {
    let mut cur = start;
    let mut cur_sse = p.eval(&cur)?;
    let mut cur_x = p.x.clone();
    let mut moves = Vec::new();
    'rounds: loop {
        if p.exhausted() {
            break;
        }
        proxy_moves(p, &cur, &cur_x, cur_sse, &mut moves)?;
        // Moving the action at `from − 1` to `from` gives the same order as moving the one at
        // `from` to `from − 1`: keep one of the two, with the better proxy.
        for mv in moves.iter_mut() {
            if mv.to + 1 == mv.from {
                (mv.from, mv.to) = (mv.to, mv.from);
            }
        }
        moves.sort_by(|a, b| {
            (a.agent, a.from, a.to)
                .cmp(&(b.agent, b.from, b.to))
                .then(a.proxy.total_cmp(&b.proxy))
        });
        moves.dedup_by(|later, first| {
            (later.agent, later.from, later.to) == (first.agent, first.from, first.to)
        });
        moves.sort_by(|a, b| {
            a.proxy
                .total_cmp(&b.proxy)
                .then((a.agent, a.from, a.to).cmp(&(b.agent, b.from, b.to)))
        });
        let proxied = moves.first().is_some_and(|mv| improves(mv.proxy, cur_sse));
        for mv in &moves {
            if p.exhausted() {
                break 'rounds;
            }
            move_element(&mut cur[mv.agent], mv.from, mv.to);
            let s = p.eval(&cur)?;
            if improves(s, cur_sse) || (proxied && s <= cur_sse) {
                cur_sse = s;
                cur_x.copy_from_slice(&p.x);
                continue 'rounds;
            }
            move_element(&mut cur[mv.agent], mv.to, mv.from);
        }
        break;
    }
    Ok(Descent {
        orders: cur,
        sse: cur_sse,
        x: cur_x,
    })
}

/// The end of a local search: an ordering, its SSE and its fit.
struct Descent {
    orders: Vec<Vec<usize>>,
    sse: f64,
    x: Vec<f64>,
}
