//! Small dense matrix products for the CPU engine ([`crate::engine`]).
//!
//! `C = init + A·B` for the shapes of the agent networks (tens of rows, 1–128 columns), where
//! libtorch's batched products spend more time dispatching and packing than multiplying. The
//! AVX-512 kernel keeps a 4-row × 64-column (f32; 32 for f64) tile of `C` in 16 vector
//! registers and streams `B`'s rows through it with fused multiply-adds, broadcasting `A`'s
//! elements; `A` may be read with any strides (so `Aᵀ·B` needs no transpose). The portable
//! kernel computes every element in the same order with the same fused multiply-adds
//! (`mul_add`), so both give bit-for-bit the same results (tested): results do not depend on
//! which kernel a machine picks. Which one runs is decided by [`crate::simd::level`]
//! (`QFACTOR_SIMD=portable` forces the portable kernels).

/// How `C` starts before `A·B` is added.
#[derive(Debug, Clone, Copy)]
pub enum Init<'a, T> {
    /// `C = A·B`.
    Zero,
    /// `C = 1·biasᵀ + A·B` (the bias, of length `n`, added to every row first).
    Bias(&'a [T]),
}

/// Element types of the kernels.
pub trait Element: Copy + Default + PartialOrd + Send + Sync + 'static {
    /// `self · a + b` with one rounding.
    fn fma(self, a: Self, b: Self) -> Self;
    /// The additive identity.
    const ZERO: Self;
    /// The multiplicative identity.
    const ONE: Self;
}

impl Element for f32 {
    #[inline(always)]
    fn fma(self, a: f32, b: f32) -> f32 {
        self.mul_add(a, b)
    }
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
}

impl Element for f64 {
    #[inline(always)]
    fn fma(self, a: f64, b: f64) -> f64 {
        self.mul_add(a, b)
    }
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
}

/// Shapes and strides of one product: `A` element `(i, k)` at `a[i·rsa + k·csa]`, `B`
/// row-major with row stride `ldb`, `C` row-major with row stride `ldc`.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    /// Rows of `A` and `C`.
    pub m: usize,
    /// Columns of `B` and `C`.
    pub n: usize,
    /// Columns of `A`, rows of `B`.
    pub k: usize,
    /// Row stride of `A`.
    pub rsa: usize,
    /// Column stride of `A`.
    pub csa: usize,
    /// Row stride of `B`.
    pub ldb: usize,
    /// Row stride of `C`.
    pub ldc: usize,
}

impl Dims {
    /// `A` row-major `[m × k]`, `B` `[k × n]`, `C` `[m × n]`, all contiguous.
    pub fn dense(m: usize, n: usize, k: usize) -> Self {
        Dims {
            m,
            n,
            k,
            rsa: k,
            csa: 1,
            ldb: n,
            ldc: n,
        }
    }

    /// `Aᵀ·B` where `A` is row-major `[k × m]`: `C [m × n] = Aᵀ B`.
    pub fn transposed_a(m: usize, n: usize, k: usize) -> Self {
        Dims {
            m,
            n,
            k,
            rsa: 1,
            csa: m,
            ldb: n,
            ldc: n,
        }
    }

    fn check<T>(&self, a: &[T], b: &[T], c: &[T], init: &Init<T>) {
        let Dims {
            m,
            n,
            k,
            rsa,
            csa,
            ldb,
            ldc,
        } = *self;
        if m == 0 || n == 0 {
            return;
        }
        if k > 0 {
            assert!((m - 1) * rsa + (k - 1) * csa < a.len(), "A too short");
            assert!((k - 1) * ldb + n <= b.len(), "B too short");
        }
        assert!((m - 1) * ldc + n <= c.len(), "C too short");
        if let Init::Bias(bias) = init {
            assert!(bias.len() >= n, "bias too short");
        }
    }
}

/// `C = init + A·B` (see [`Dims`]), with the AVX-512 kernel at [`crate::simd::Level::Avx512`]
/// ([`crate::simd::level`]), else the portable one.
pub fn gemm<T: Element>(d: Dims, a: &[T], b: &[T], c: &mut [T], init: Init<T>) {
    d.check(a, b, c, &init);
    if d.m == 0 || d.n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::level() >= crate::simd::Level::Avx512 {
            // SAFETY: AVX-512F is available (`simd::level` never exceeds the CPU's level);
            // the slices are long enough for every access (checked by `d.check`).
            unsafe { avx512::gemm(d, a, b, c, init) };
            return;
        }
    }
    gemm_portable(d, a, b, c, init);
}

/// The portable kernel (same arithmetic, element by element).
pub fn gemm_portable<T: Element>(d: Dims, a: &[T], b: &[T], c: &mut [T], init: Init<T>) {
    d.check(a, b, c, &init);
    for i in 0..d.m {
        for j in 0..d.n {
            let mut acc = match init {
                Init::Zero => T::ZERO,
                Init::Bias(bias) => bias[j],
            };
            for kk in 0..d.k {
                acc = a[i * d.rsa + kk * d.csa].fma(b[kk * d.ldb + j], acc);
            }
            c[i * d.ldc + j] = acc;
        }
    }
}

/// `out [c × r] = srcᵀ` for a row-major `src [r × c]` (16 × 16 AVX-512 blocks for f32 at
/// [`crate::simd::Level::Avx512`], else 8 × 8 portable blocks).
pub fn transpose<T: Element>(src: &[T], r: usize, c: usize, out: &mut [T]) {
    assert!(
        src.len() >= r * c && out.len() >= r * c,
        "transpose: slices too short"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
            && crate::simd::level() >= crate::simd::Level::Avx512
        {
            // SAFETY: AVX-512F is available (`simd::level` never exceeds the CPU's level); T
            // is f32; lengths checked above.
            unsafe {
                avx512::transpose_f32(src.as_ptr().cast(), r, c, out.as_mut_ptr().cast());
            }
            return;
        }
    }
    transpose_portable(src, r, c, out, 0, 0);
}

/// The part of a transpose from row `i0` and column `j0` on (whole matrix with 0, 0), in
/// 8 × 8 blocks.
fn transpose_portable<T: Copy>(src: &[T], r: usize, c: usize, out: &mut [T], i0: usize, j0: usize) {
    const BS: usize = 8;
    let (src, out) = (&src[..r * c], &mut out[..r * c]);
    // Rows i0.. for every column, and columns j0.. for rows 0..i0.
    for (rows, cols) in [(i0..r, 0..c), (0..i0, j0..c)] {
        for ib in rows.clone().step_by(BS) {
            for jb in cols.clone().step_by(BS) {
                for i in ib..(ib + BS).min(rows.end) {
                    for j in jb..(jb + BS).min(cols.end) {
                        out[j * r + i] = src[i * c + j];
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Dims, Element, Init};
    use std::any::TypeId;
    use std::arch::x86_64::*;

    /// Rows of a register tile.
    const MR: usize = 4;
    /// Vector registers per tile row.
    const NV: usize = 4;

    /// Dispatches on the element type.
    ///
    /// # Safety
    /// AVX-512F must be available and the slices long enough for `d` (see `Dims::check`).
    pub unsafe fn gemm<T: Element>(d: Dims, a: &[T], b: &[T], c: &mut [T], init: Init<T>) {
        let bias = match init {
            Init::Zero => None,
            Init::Bias(b) => Some(b.as_ptr()),
        };
        if TypeId::of::<T>() == TypeId::of::<f32>() {
            gemm_f32(
                d,
                a.as_ptr().cast(),
                b.as_ptr().cast(),
                c.as_mut_ptr().cast(),
                bias.map(|p| p.cast()),
            );
        } else if TypeId::of::<T>() == TypeId::of::<f64>() {
            gemm_f64(
                d,
                a.as_ptr().cast(),
                b.as_ptr().cast(),
                c.as_mut_ptr().cast(),
                bias.map(|p| p.cast()),
            );
        } else {
            super::gemm_portable(d, a, b, c, init);
        }
    }

    /// `out [c × r] = srcᵀ` with 16 × 16 register transposes for the full blocks and the
    /// portable loop for the edges.
    ///
    /// # Safety
    /// AVX-512F available; `src` and `out` valid for `r · c` elements.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn transpose_f32(src: *const f32, r: usize, c: usize, out: *mut f32) {
        let (r16, c16) = (r / 16 * 16, c / 16 * 16);
        for i0 in (0..r16).step_by(16) {
            for j0 in (0..c16).step_by(16) {
                block16(src.add(i0 * c + j0), c, out.add(j0 * r + i0), r);
            }
        }
        if r16 < r || c16 < c {
            let src = std::slice::from_raw_parts(src, r * c);
            let out = std::slice::from_raw_parts_mut(out, r * c);
            super::transpose_portable(src, r, c, out, r16, c16);
        }
    }

    /// Transposes the 16 × 16 block at `src` (row stride `lds`) into `dst` (row stride `ldd`).
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block16(src: *const f32, lds: usize, dst: *mut f32, ldd: usize) {
        let mut x = [_mm512_setzero_ps(); 16];
        for (i, v) in x.iter_mut().enumerate() {
            *v = _mm512_loadu_ps(src.add(i * lds));
        }
        // 32-bit interleave of row pairs: lane L of t[2p] holds r2p[4L], r2p+1[4L], r2p[4L+1],
        // r2p+1[4L+1]; of t[2p+1] the same for 4L+2, 4L+3.
        let mut t = [_mm512_setzero_ps(); 16];
        for p in 0..8 {
            t[2 * p] = _mm512_unpacklo_ps(x[2 * p], x[2 * p + 1]);
            t[2 * p + 1] = _mm512_unpackhi_ps(x[2 * p], x[2 * p + 1]);
        }
        // 64-bit interleave: lane L of y[4a + e] holds rows 4a..4a+3 of column 4L + e.
        let pd = _mm512_castps_pd;
        let ps = _mm512_castpd_ps;
        let mut y = [_mm512_setzero_ps(); 16];
        for a in 0..4 {
            let (t0, t1, t2, t3) = (t[4 * a], t[4 * a + 1], t[4 * a + 2], t[4 * a + 3]);
            y[4 * a] = ps(_mm512_unpacklo_pd(pd(t0), pd(t2)));
            y[4 * a + 1] = ps(_mm512_unpackhi_pd(pd(t0), pd(t2)));
            y[4 * a + 2] = ps(_mm512_unpacklo_pd(pd(t1), pd(t3)));
            y[4 * a + 3] = ps(_mm512_unpackhi_pd(pd(t1), pd(t3)));
        }
        // 128-bit lane shuffles: gather each column's four row groups.
        for e in 0..4 {
            let u0 = _mm512_shuffle_f32x4::<0x88>(y[e], y[4 + e]);
            let u1 = _mm512_shuffle_f32x4::<0xdd>(y[e], y[4 + e]);
            let u2 = _mm512_shuffle_f32x4::<0x88>(y[8 + e], y[12 + e]);
            let u3 = _mm512_shuffle_f32x4::<0xdd>(y[8 + e], y[12 + e]);
            _mm512_storeu_ps(dst.add(e * ldd), _mm512_shuffle_f32x4::<0x88>(u0, u2));
            _mm512_storeu_ps(dst.add((8 + e) * ldd), _mm512_shuffle_f32x4::<0xdd>(u0, u2));
            _mm512_storeu_ps(dst.add((4 + e) * ldd), _mm512_shuffle_f32x4::<0x88>(u1, u3));
            _mm512_storeu_ps(
                dst.add((12 + e) * ldd),
                _mm512_shuffle_f32x4::<0xdd>(u1, u3),
            );
        }
    }

    macro_rules! kernel {
        ($gemm:ident, $tile:ident, $t:ty, $v:ty, $mask:ty, $lanes:expr,
         $zero:ident, $set1:ident, $loadz:ident, $store:ident, $fmadd:ident) => {
            /// # Safety
            /// AVX-512F available; pointers valid for `d` (see `Dims::check`).
            #[target_feature(enable = "avx512f")]
            unsafe fn $gemm(
                d: Dims,
                a: *const $t,
                b: *const $t,
                c: *mut $t,
                bias: Option<*const $t>,
            ) {
                let width = NV * $lanes;
                let mut j0 = 0;
                while j0 < d.n {
                    let nc = (d.n - j0).min(width);
                    let nv = nc.div_ceil($lanes);
                    let mut masks: [$mask; NV] = [0; NV];
                    for (v, m) in masks.iter_mut().enumerate() {
                        let rem = nc.saturating_sub(v * $lanes).min($lanes);
                        *m = if rem == $lanes {
                            !0
                        } else {
                            ((1u32 << rem) - 1) as $mask
                        };
                    }
                    let mut i0 = 0;
                    while i0 < d.m {
                        let mr = (d.m - i0).min(MR);
                        let args = (d, a, b, c, bias, masks, i0, j0);
                        match (mr, nv) {
                            (4, 4) => $tile::<4, 4>(args),
                            (4, 3) => $tile::<4, 3>(args),
                            (4, 2) => $tile::<4, 2>(args),
                            (4, _) => $tile::<4, 1>(args),
                            (3, 4) => $tile::<3, 4>(args),
                            (3, 3) => $tile::<3, 3>(args),
                            (3, 2) => $tile::<3, 2>(args),
                            (3, _) => $tile::<3, 1>(args),
                            (2, 4) => $tile::<2, 4>(args),
                            (2, 3) => $tile::<2, 3>(args),
                            (2, 2) => $tile::<2, 2>(args),
                            (2, _) => $tile::<2, 1>(args),
                            (_, 4) => $tile::<1, 4>(args),
                            (_, 3) => $tile::<1, 3>(args),
                            (_, 2) => $tile::<1, 2>(args),
                            (_, _) => $tile::<1, 1>(args),
                        }
                        i0 += mr;
                    }
                    j0 += width;
                }
            }

            /// One `R × (V·lanes)` tile of `C` at `(i0, j0)`.
            ///
            /// # Safety
            /// As for the caller.
            #[target_feature(enable = "avx512f")]
            #[inline]
            #[allow(clippy::type_complexity)]
            unsafe fn $tile<const R: usize, const V: usize>(
                (d, a, b, c, bias, masks, i0, j0): (
                    Dims,
                    *const $t,
                    *const $t,
                    *mut $t,
                    Option<*const $t>,
                    [$mask; NV],
                    usize,
                    usize,
                ),
            ) {
                let mut acc: [[$v; V]; R] = [[$zero(); V]; R];
                if let Some(bias) = bias {
                    for v in 0..V {
                        let bv = $loadz(masks[v], bias.add(j0 + v * $lanes));
                        for row in acc.iter_mut() {
                            row[v] = bv;
                        }
                    }
                }
                for kk in 0..d.k {
                    let brow = b.add(kk * d.ldb + j0);
                    let mut bv: [$v; V] = [$zero(); V];
                    for v in 0..V {
                        bv[v] = $loadz(masks[v], brow.add(v * $lanes));
                    }
                    for r in 0..R {
                        let av = $set1(*a.add((i0 + r) * d.rsa + kk * d.csa));
                        for v in 0..V {
                            acc[r][v] = $fmadd(av, bv[v], acc[r][v]);
                        }
                    }
                }
                for r in 0..R {
                    let crow = c.add((i0 + r) * d.ldc + j0);
                    for v in 0..V {
                        $store(crow.add(v * $lanes), masks[v], acc[r][v]);
                    }
                }
            }
        };
    }

    kernel!(
        gemm_f32,
        tile_f32,
        f32,
        __m512,
        __mmask16,
        16,
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_maskz_loadu_ps,
        _mm512_mask_storeu_ps,
        _mm512_fmadd_ps
    );
    kernel!(
        gemm_f64,
        tile_f64,
        f64,
        __m512d,
        __mmask8,
        8,
        _mm512_setzero_pd,
        _mm512_set1_pd,
        _mm512_maskz_loadu_pd,
        _mm512_mask_storeu_pd,
        _mm512_fmadd_pd
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::simd::{self, Level};

    /// The levels this CPU can run, lowest (portable) first: the tests run each explicitly.
    fn levels() -> Vec<Level> {
        let l: Vec<Level> = Level::ALL.into_iter().filter(|l| l.supported()).collect();
        assert_eq!(l[0], Level::Portable);
        assert_eq!(*l.last().unwrap(), simd::detected());
        l
    }

    fn bits32(x: &[f32]) -> Vec<u32> {
        x.iter().map(|x| x.to_bits()).collect()
    }

    fn rand<T: From<f32>>(rng: &mut Rng, n: usize) -> Vec<T> {
        (0..n).map(|_| T::from(rng.normal() as f32)).collect()
    }

    /// Every shape class (tile tails in both directions, k = 0 and 1, strided and transposed
    /// A, bias or not): `gemm` at every level this CPU supports (portable, and the detected
    /// SIMD level, forced with `simd::with_level`) equals `gemm_portable` bit for bit, and the
    /// portable one equals a plain f64 triple loop within rounding (relative 1e-5 for f32).
    #[test]
    fn kernels_agree_bit_for_bit_and_with_a_triple_loop() {
        let mut rng = Rng::keyed(3, 0, "gemm");
        for &(m, n, k) in &[
            (32, 64, 64),
            (64, 64, 32),
            (32, 3, 64),
            (32, 21, 64),
            (7, 67, 5),
            (1, 1, 1),
            (5, 130, 0),
            (4, 16, 1),
            (3, 17, 9),
        ] {
            for transposed in [false, true] {
                for with_bias in [false, true] {
                    let d = if transposed {
                        Dims::transposed_a(m, n, k)
                    } else {
                        Dims::dense(m, n, k)
                    };
                    let a: Vec<f32> = rand(&mut rng, (m * k).max(1));
                    let b: Vec<f32> = rand(&mut rng, (k * n).max(1));
                    let bias: Vec<f32> = rand(&mut rng, n);
                    let init = if with_bias {
                        Init::Bias(&bias)
                    } else {
                        Init::Zero
                    };
                    let mut slow = vec![f32::NAN; m * n];
                    gemm_portable(d, &a, &b, &mut slow, init);
                    for level in levels() {
                        let mut fast = vec![f32::NAN; m * n];
                        simd::with_level(level, || gemm(d, &a, &b, &mut fast, init));
                        assert_eq!(
                            bits32(&fast),
                            bits32(&slow),
                            "{level}: {m}x{n}x{k} t={transposed} bias={with_bias}"
                        );
                    }
                    for i in 0..m {
                        for j in 0..n {
                            let mut e = if with_bias { f64::from(bias[j]) } else { 0.0 };
                            for kk in 0..k {
                                let aik = if transposed {
                                    a[kk * m + i]
                                } else {
                                    a[i * k + kk]
                                };
                                e += f64::from(aik) * f64::from(b[kk * n + j]);
                            }
                            let got = f64::from(slow[i * n + j]);
                            assert!((got - e).abs() <= 1e-5 * (1.0 + e.abs()), "{got} vs {e}");
                        }
                    }
                }
            }
        }
        // f64 likewise.
        let (m, n, k) = (6, 37, 11);
        let a: Vec<f64> = rand(&mut rng, m * k);
        let b: Vec<f64> = rand(&mut rng, k * n);
        let bias: Vec<f64> = rand(&mut rng, n);
        let mut slow = vec![0.0; m * n];
        gemm_portable(Dims::dense(m, n, k), &a, &b, &mut slow, Init::Bias(&bias));
        for level in levels() {
            let mut fast = vec![0.0; m * n];
            simd::with_level(level, || {
                gemm(Dims::dense(m, n, k), &a, &b, &mut fast, Init::Bias(&bias));
            });
            assert_eq!(
                fast.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                slow.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "{level}"
            );
        }
    }

    /// The transposes (16 × 16 register blocks and edges, f32 and f64) equal the definition,
    /// at every level this CPU supports.
    #[test]
    fn transposes_are_exact() {
        for level in levels() {
            simd::with_level(level, transposes_are_exact_here);
        }
    }

    fn transposes_are_exact_here() {
        for &(r, c) in &[
            (64, 64),
            (64, 3),
            (3, 64),
            (32, 48),
            (17, 33),
            (1, 1),
            (16, 16),
            (67, 64),
        ] {
            let src: Vec<f32> = (0..r * c).map(|x| x as f32).collect();
            let mut out = vec![-1.0f32; r * c];
            transpose(&src, r, c, &mut out);
            for i in 0..r {
                for j in 0..c {
                    assert_eq!(
                        out[j * r + i].to_bits(),
                        src[i * c + j].to_bits(),
                        "{}: {r}x{c} ({i},{j})",
                        simd::level()
                    );
                }
            }
            let src: Vec<f64> = (0..r * c).map(|x| x as f64).collect();
            let mut out = vec![-1.0f64; r * c];
            transpose(&src, r, c, &mut out);
            for i in 0..r {
                for j in 0..c {
                    assert_eq!(
                        out[j * r + i].to_bits(),
                        src[i * c + j].to_bits(),
                        "{}",
                        simd::level()
                    );
                }
            }
        }
    }

    /// Columns of C outside the n written ones and rows beyond m are untouched, at every
    /// level this CPU supports.
    #[test]
    fn writes_stay_inside_c() {
        for level in levels() {
            simd::with_level(level, writes_stay_inside_c_here);
        }
    }

    fn writes_stay_inside_c_here() {
        let (m, n, k) = (5, 19, 3);
        let a = vec![1.0f32; m * k];
        let b = vec![2.0f32; k * n];
        let ldc = 24;
        let mut c = vec![-7.0f32; m * ldc + 3];
        let d = Dims {
            ldc,
            ..Dims::dense(m, n, k)
        };
        gemm(d, &a, &b, &mut c, Init::Zero);
        for i in 0..m {
            for j in 0..ldc {
                let v = c[i * ldc + j];
                if j < n {
                    assert!((v - 6.0).abs() < 1e-6);
                } else {
                    assert!((v + 7.0).abs() < 1e-6);
                }
            }
        }
        assert!(c[m * ldc..].iter().all(|&v| (v + 7.0).abs() < 1e-6));
    }
}
