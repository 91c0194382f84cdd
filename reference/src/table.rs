//! Joint tables `Q(u)` over `U_1 × … × U_N` and per-agent utilities `[Q_i]`.
//!
//! A joint action is a slice of action indices, one per agent. Tables are stored row-major
//! with agent 1 slowest: the flat index of `u` is `((u_1·|U_2| + u_2)·|U_3| + u_3)…`.
//!
//! At the public boundary a table converts to and from an [`ndarray`] array with one axis per
//! agent ([`JointTable::to_array`], [`JointTable::from_array`]): the storage order is the
//! array's standard (C, row-major) layout, so `array[[u_1, …, u_N]] == table.get(&[u_1, …,
//! u_N])`.

use ndarray::{ArrayBase, ArrayD, ArrayViewD, Data, Dimension, IxDyn};

use crate::error::{Error, Result};
use crate::tol;

/// The largest number of joint actions any table may have. Inputs implying more are rejected
/// before anything is allocated.
pub const MAX_JOINT_ACTIONS: usize = 1 << 24;

/// Number of joint actions of `shape`, or `None` when it overflows or exceeds
/// [`MAX_JOINT_ACTIONS`].
pub fn joint_size(shape: &[usize]) -> Option<usize> {
    let mut n: usize = 1;
    for &s in shape {
        n = n.checked_mul(s)?;
        if n > MAX_JOINT_ACTIONS {
            return None;
        }
    }
    Some(n)
}

/// A real-valued table over the joint actions of N agents.
#[derive(Debug, Clone, PartialEq)]
pub struct JointTable {
    shape: Vec<usize>,
    values: Vec<f64>,
}

impl JointTable {
    /// A table with the given action counts per agent and row-major values.
    pub fn new(shape: Vec<usize>, values: Vec<f64>) -> Result<Self> {
        if shape.is_empty() {
            return Err(Error::Invalid(
                "a joint table needs at least one agent".into(),
            ));
        }
        if shape.contains(&0) {
            return Err(Error::Invalid(
                "every agent needs at least one action".into(),
            ));
        }
        let n = joint_size(&shape)
            .ok_or_else(|| Error::Invalid(format!("joint action space {shape:?} is too large")))?;
        if n != values.len() {
            return Err(Error::Invalid(format!(
                "shape {shape:?} has {n} joint actions but {} values were given",
                values.len()
            )));
        }
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!("table value {v} is not finite")));
        }
        Ok(JointTable { shape, values })
    }

    /// The table as an array with one axis per agent (axis `i` has agent `i + 1`'s action
    /// count), in standard layout: `array[[u_1, …, u_N]]` is the value at `u`.
    pub fn to_array(&self) -> ArrayD<f64> {
        ArrayD::from_shape_vec(IxDyn(&self.shape), self.values.clone())
            .expect("invariant: the values fill the shape")
    }

    /// A table from an array with one axis per agent, in any memory layout (transposed,
    /// column-major or strided views are read in logical order, as by
    /// `.as_standard_layout()`). Errors as [`JointTable::new`]: a 0-dimensional array (no
    /// agent), an axis of length 0 (an agent without actions), too many joint actions, or a
    /// value that is not finite.
    pub fn from_array<S, D>(array: ArrayBase<S, D>) -> Result<Self>
    where
        S: Data<Elem = f64>,
        D: Dimension,
    {
        let shape = array.shape().to_vec();
        if shape.is_empty() || shape.contains(&0) || joint_size(&shape).is_none() {
            // `new` rejects the shape before it looks at the values: nothing is copied.
            return JointTable::new(shape, Vec::new());
        }
        // One copy, in standard layout (the offset of a standard owned copy is 0).
        let (values, _) = array
            .as_standard_layout()
            .into_owned()
            .into_raw_vec_and_offset();
        JointTable::new(shape, values)
    }

    /// A table whose value at joint action `u` is `f(u)`.
    pub fn from_fn(shape: Vec<usize>, mut f: impl FnMut(&[usize]) -> f64) -> Result<Self> {
        let n = joint_size(&shape)
            .ok_or_else(|| Error::Invalid(format!("joint action space {shape:?} is too large")))?;
        let mut values = Vec::with_capacity(n);
        let mut u = vec![0usize; shape.len()];
        for _ in 0..n {
            values.push(f(&u));
            increment(&mut u, &shape);
        }
        JointTable::new(shape, values)
    }

    /// The additive table `Σ_i Q_i(u_i)` of some utilities.
    pub fn additive(utilities: &Utilities) -> Self {
        let shape = utilities.shape();
        JointTable::from_fn(shape, |u| utilities.sum_at(u))
            .expect("invariant: utilities have a valid finite shape")
    }

    /// Action counts per agent.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of agents N.
    pub fn n_agents(&self) -> usize {
        self.shape.len()
    }

    /// Number of joint actions.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false: a table has at least one joint action.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Row-major values, agent 1 slowest.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Mutable row-major values.
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// Flat index of joint action `u`.
    pub fn index_of(&self, u: &[usize]) -> usize {
        debug_assert_eq!(u.len(), self.shape.len());
        u.iter().zip(&self.shape).fold(0, |acc, (&a, &s)| {
            debug_assert!(a < s);
            acc * s + a
        })
    }

    /// Joint action of flat index `idx`.
    pub fn joint_action(&self, mut idx: usize) -> Vec<usize> {
        let mut u = vec![0; self.shape.len()];
        for i in (0..self.shape.len()).rev() {
            u[i] = idx % self.shape[i];
            idx /= self.shape[i];
        }
        u
    }

    /// Value at joint action `u`.
    pub fn get(&self, u: &[usize]) -> f64 {
        self.values[self.index_of(u)]
    }

    /// Iterator over `(joint action, value)` in storage order.
    pub fn iter(&self) -> impl Iterator<Item = (Vec<usize>, f64)> + '_ {
        let mut u = vec![0usize; self.shape.len()];
        self.values.iter().map(move |&v| {
            let cur = u.clone();
            increment(&mut u, &self.shape);
            (cur, v)
        })
    }

    /// The largest value.
    pub fn max(&self) -> f64 {
        self.values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// Flat indices of every joint action tied with the maximum (see [`tol`]).
    pub fn argmax_set(&self) -> Vec<usize> {
        self.argmax_set_within(&tol::Tolerance::EXACT)
    }

    /// Flat indices of every joint action tied with the maximum under `tolerance` (for
    /// learned tables; [`JointTable::argmax_set`] is this with [`tol::Tolerance::EXACT`]).
    pub fn argmax_set_within(&self, tolerance: &tol::Tolerance) -> Vec<usize> {
        let m = self.max();
        (0..self.values.len())
            .filter(|&i| tolerance.tied(self.values[i], m))
            .collect()
    }

    /// Element-wise `self − other`.
    pub fn sub(&self, other: &JointTable) -> Result<JointTable> {
        self.zip_with(other, |a, b| a - b)
    }

    /// Element-wise combination of two tables of the same shape.
    pub fn zip_with(&self, other: &JointTable, f: impl Fn(f64, f64) -> f64) -> Result<JointTable> {
        if self.shape != other.shape {
            return Err(Error::Invalid(format!(
                "table shapes differ: {:?} vs {:?}",
                self.shape, other.shape
            )));
        }
        let values = self
            .values
            .iter()
            .zip(&other.values)
            .map(|(&a, &b)| f(a, b))
            .collect();
        JointTable::new(self.shape.clone(), values)
    }

    /// Weighted mean squared distance `Σ w (a − b)² / Σ w` (uniform when `weights` is `None`).
    pub fn mse(&self, other: &JointTable, weights: Option<&[f64]>) -> f64 {
        debug_assert_eq!(self.shape, other.shape);
        let mut num = 0.0;
        let mut den = 0.0;
        for (k, (&a, &b)) in self.values.iter().zip(&other.values).enumerate() {
            let w = weights.map_or(1.0, |w| w[k]);
            num += w * (a - b) * (a - b);
            den += w;
        }
        num / den
    }
}

impl From<&JointTable> for ArrayD<f64> {
    /// [`JointTable::to_array`].
    fn from(table: &JointTable) -> Self {
        table.to_array()
    }
}

impl TryFrom<ArrayD<f64>> for JointTable {
    type Error = Error;

    /// [`JointTable::from_array`].
    fn try_from(array: ArrayD<f64>) -> Result<Self> {
        JointTable::from_array(array)
    }
}

impl TryFrom<ArrayViewD<'_, f64>> for JointTable {
    type Error = Error;

    /// [`JointTable::from_array`] (the view's values are copied).
    fn try_from(array: ArrayViewD<'_, f64>) -> Result<Self> {
        JointTable::from_array(array)
    }
}

/// Advances a joint action in row-major order (last agent fastest); wraps to all zeros.
pub fn increment(u: &mut [usize], shape: &[usize]) {
    for i in (0..u.len()).rev() {
        u[i] += 1;
        if u[i] < shape[i] {
            return;
        }
        u[i] = 0;
    }
}

/// Individual utilities `[Q_i(u_i)]`, one vector per agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Utilities(pub Vec<Vec<f64>>);

impl Utilities {
    /// Action counts per agent.
    pub fn shape(&self) -> Vec<usize> {
        self.0.iter().map(Vec::len).collect()
    }

    /// Number of agents.
    pub fn n_agents(&self) -> usize {
        self.0.len()
    }

    /// `Q'_jt(u) = Σ_i Q_i(u_i)`.
    pub fn sum_at(&self, u: &[usize]) -> f64 {
        self.0.iter().zip(u).map(|(q, &a)| q[a]).sum()
    }

    /// Agent `i`'s greedy action set `argmax Q_i` (ties by [`tol`]).
    pub fn greedy_set(&self, i: usize) -> Vec<usize> {
        self.greedy_set_within(i, &tol::Tolerance::EXACT)
    }

    /// Agent `i`'s greedy action set with ties decided by `tolerance` (for learned
    /// utilities; [`Utilities::greedy_set`] is this with [`tol::Tolerance::EXACT`]).
    pub fn greedy_set_within(&self, i: usize, tolerance: &tol::Tolerance) -> Vec<usize> {
        let q = &self.0[i];
        let m = q.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (0..q.len()).filter(|&a| tolerance.tied(q[a], m)).collect()
    }

    /// One greedy joint action `ū` (the first of each agent's greedy set).
    pub fn greedy(&self) -> Vec<usize> {
        (0..self.0.len()).map(|i| self.greedy_set(i)[0]).collect()
    }

    /// `Σ_i max Q_i = Q'_jt(ū)`.
    pub fn greedy_sum(&self) -> f64 {
        self.0
            .iter()
            .map(|q| q.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_roundtrip_row_major_agent1_slowest() {
        let t =
            JointTable::from_fn(vec![2, 3, 4], |u| (u[0] * 100 + u[1] * 10 + u[2]) as f64).unwrap();
        assert_eq!(&t.values()[..2], &[0.0, 1.0]);
        assert_eq!(&t.values()[4..5], &[10.0]);
        assert_eq!(&t.values()[12..13], &[100.0]);
        for k in 0..t.len() {
            assert_eq!(t.index_of(&t.joint_action(k)), k);
        }
    }

    #[test]
    fn rejects_bad_shapes_and_values() {
        assert!(JointTable::new(vec![2, 2], vec![0.0; 3]).is_err());
        assert!(JointTable::new(vec![1], vec![f64::NAN]).is_err());
        assert!(JointTable::new(vec![], vec![]).is_err());
        assert!(joint_size(&[usize::MAX, 2]).is_none());
        assert!(joint_size(&[1 << 13, 1 << 13]).is_none());
    }

    #[test]
    fn argmax_set_with_ties() {
        let t = JointTable::new(vec![2, 2], vec![10.0, 0.0, 0.0, 10.0 + 1e-12]).unwrap();
        assert_eq!(t.argmax_set(), vec![0, 3]);
    }

    #[test]
    fn array_round_trip_and_indexing() {
        let t =
            JointTable::from_fn(vec![2, 3, 4], |u| (u[0] * 100 + u[1] * 10 + u[2]) as f64).unwrap();
        let a = t.to_array();
        assert_eq!(a.shape(), &[2, 3, 4]);
        assert!(a.is_standard_layout());
        assert_eq!(a[[1, 2, 3]].to_bits(), 123f64.to_bits());
        assert_eq!(a.as_slice().unwrap(), t.values());
        assert_eq!(JointTable::from_array(a.clone()).unwrap(), t);
        assert_eq!(JointTable::try_from(a.view()).unwrap(), t);
        assert_eq!(ArrayD::from(&t), a);
        let one = JointTable::new(vec![1], vec![7.5]).unwrap();
        assert_eq!(JointTable::try_from(one.to_array()).unwrap(), one);
    }

    #[test]
    fn arrays_in_other_layouts_are_read_in_logical_order() {
        use ndarray::{s, Array, Array2, ShapeBuilder};
        // Column-major storage.
        let f = Array::from_shape_vec((2, 3).f(), vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0]).unwrap();
        assert!(!f.is_standard_layout());
        let t = JointTable::from_array(f).unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.values(), &[0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
        // A transposed view: agent 1 is the original second axis.
        let a = Array2::from_shape_fn((2, 3), |(i, j)| (10 * i + j) as f64);
        let t = JointTable::from_array(a.t()).unwrap();
        assert_eq!(t.shape(), &[3, 2]);
        assert_eq!(t.get(&[2, 1]).to_bits(), 12f64.to_bits());
        // Strided and reversed slices, and an owned array with an offset.
        let big = JointTable::from_fn(vec![4, 5], |u| (u[0] * 5 + u[1]) as f64)
            .unwrap()
            .to_array();
        let t = JointTable::from_array(big.slice(s![..;2, ..;-2])).unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.values(), &[4.0, 2.0, 0.0, 14.0, 12.0, 10.0]);
        let t = JointTable::from_array(big.slice_move(s![1.., 3..])).unwrap();
        assert_eq!(t.values(), &[8.0, 9.0, 13.0, 14.0, 18.0, 19.0]);
    }

    #[test]
    fn arrays_are_checked_like_new() {
        use ndarray::{arr0, Array};
        let msg = |r: Result<JointTable>| r.unwrap_err().to_string();
        let empty_axis = Array::<f64, _>::zeros(IxDyn(&[2, 0, 3]));
        assert_eq!(
            msg(JointTable::from_array(empty_axis)),
            msg(JointTable::new(vec![2, 0, 3], vec![]))
        );
        assert!(msg(JointTable::from_array(arr0(1.0))).contains("at least one agent"));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let a = Array::from_shape_vec(IxDyn(&[2, 2]), vec![0.0, bad, 1.0, 2.0]).unwrap();
            assert_eq!(
                msg(JointTable::from_array(a)),
                msg(JointTable::new(vec![2, 2], vec![0.0, bad, 1.0, 2.0]))
            );
        }
        // Refused from the shape, before anything is copied (a broadcast view owns 8 bytes).
        let zero = arr0(0.0);
        let huge = zero.broadcast(IxDyn(&[1 << 12, 1 << 12, 2])).unwrap();
        assert!(msg(JointTable::from_array(huge)).contains("too large"));
    }

    mod array_props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Tables survive the round trip, and any axis permutation of the array is the table
            /// with its agents permuted.
            #[test]
            fn arrays_round_trip(
                (shape, values, perm) in prop::collection::vec(1usize..4, 1..5)
                    .prop_flat_map(|shape| {
                        let n: usize = shape.iter().product();
                        let k = shape.len();
                        (
                            Just(shape),
                            prop::collection::vec(-1e6f64..1e6, n),
                            Just((0..k).collect::<Vec<_>>()).prop_shuffle(),
                        )
                    })
            ) {
                let t = JointTable::new(shape.clone(), values).unwrap();
                let a = t.to_array();
                prop_assert_eq!(&JointTable::from_array(a.view()).unwrap(), &t);
                let p = JointTable::from_array(a.permuted_axes(IxDyn(&perm))).unwrap();
                let pshape: Vec<usize> = perm.iter().map(|&i| shape[i]).collect();
                prop_assert_eq!(p.shape(), &pshape[..]);
                for (v, x) in p.iter() {
                    let mut u = vec![0; v.len()];
                    for (axis, &i) in perm.iter().enumerate() {
                        u[i] = v[axis];
                    }
                    prop_assert_eq!(x.to_bits(), t.get(&u).to_bits());
                }
            }
        }
    }
}
