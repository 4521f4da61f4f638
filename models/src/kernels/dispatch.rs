//! Which kernel computes which outputs. Every path returns, for each (weight row, activation
//! row), exactly the scalar twin's value, so the choice changes speed only.

use std::sync::OnceLock;

use rayon::prelude::*;

use super::formats::Format;
use super::{ActBlock, BLOCK, PairBlock};

/// Whether the 512-bit kernels run: the CPU has AVX-512 BW/VL/DQ and VNNI, and
/// `WICK_CPU_KERNELS=avx2` does not ask for the baseline (to compare the two).
pub fn wide_kernels() -> bool {
    static WIDE: OnceLock<bool> = OnceLock::new();
    *WIDE.get_or_init(|| {
        let asked_for_baseline = std::env::var("WICK_CPU_KERNELS").is_ok_and(|v| v == "avx2");
        !asked_for_baseline && cpu_has_avx512_vnni()
    })
}

#[cfg(x86_simd)]
fn cpu_has_avx512_vnni() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx512vnni")
        && is_x86_feature_detected!("fma")
}

#[cfg(not(x86_simd))]
fn cpu_has_avx512_vnni() -> bool {
    false
}

/// The activation rows of one product: as quantized, and (for the wide kernels) in pairs.
pub struct Rows<'a> {
    pub acts: &'a [ActBlock],
    pub pairs: &'a [PairBlock],
    pub m: usize,
    pub bpr: usize,
}

impl Rows<'_> {
    fn row(&self, r: usize) -> &[ActBlock] {
        &self.acts[r * self.bpr..(r + 1) * self.bpr]
    }

    fn pair(&self, p: usize) -> &[PairBlock] {
        &self.pairs[p * self.bpr..(p + 1) * self.bpr]
    }
}

/// Rows `2p` and `2p + 1` of `acts` interleaved block by block, for `p` in `0..m / 2`.
pub fn pair_rows(acts: &[ActBlock], m: usize, bpr: usize) -> Vec<PairBlock> {
    let empty = PairBlock { lo: [0; 32], hi: [0; 32], d: [0.0; 16], s: [0.0; 2] };
    let mut out = vec![empty; m / 2 * bpr];
    out.par_chunks_mut(bpr).zip(acts.par_chunks_exact(2 * bpr)).for_each(|(out, rows)| {
        let (r0, r1) = rows.split_at(bpr);
        for ((block, a), b) in out.iter_mut().zip(r0).zip(r1) {
            block.lo[..16].copy_from_slice(&a.qs[..16]);
            block.lo[16..].copy_from_slice(&b.qs[..16]);
            block.hi[..16].copy_from_slice(&a.qs[16..]);
            block.hi[16..].copy_from_slice(&b.qs[16..]);
            block.d[..8].fill(a.d);
            block.d[8..].fill(b.d);
            block.s = [a.s, b.s];
        }
    });
    out
}

/// What the dispatch needs of a format: the SIMD unpacking where the SIMD kernels are built.
#[cfg(x86_simd)]
pub trait Kernel: super::unpack::Unpack {}
#[cfg(x86_simd)]
impl<F: super::unpack::Unpack> Kernel for F {}
/// What the dispatch needs of a format.
#[cfg(not(x86_simd))]
pub trait Kernel: Format {}
#[cfg(not(x86_simd))]
impl<F: Format> Kernel for F {}

fn dot<F: Kernel>(w: &[F], a: &[ActBlock]) -> f32 {
    #[cfg(x86_simd)]
    {
        // SAFETY: the target features are enabled at compile time.
        unsafe { super::avx2::dotn::<F, 1>(w, [a])[0] }
    }
    #[cfg(not(x86_simd))]
    {
        super::scalar::dot(w, a)
    }
}

fn dot4<F: Kernel>(w: &[F], a: [&[ActBlock]; 4]) -> [f32; 4] {
    #[cfg(x86_simd)]
    {
        // SAFETY: the target features are enabled at compile time.
        unsafe { super::avx2::dotn::<F, 4>(w, a) }
    }
    #[cfg(not(x86_simd))]
    {
        a.map(|a| super::scalar::dot(w, a))
    }
}

/// # Safety
/// The CPU must have what [`wide_kernels`] checks for.
unsafe fn dot_pairs<F: Kernel, const P: usize>(w: &[F], a: [&[PairBlock]; P]) -> [[f32; 2]; P] {
    #[cfg(x86_simd)]
    {
        // SAFETY: the caller checked the CPU.
        unsafe { super::avx512::dot_pairs::<F, P>(w, a) }
    }
    #[cfg(not(x86_simd))]
    {
        let _ = (w, a);
        unreachable!("wide kernels are x86-64 only")
    }
}

/// # Safety
/// As for `dot_pairs`.
unsafe fn dot_cols<F: Kernel>(w0: &[F], w1: &[F], a: &[ActBlock]) -> [f32; 2] {
    #[cfg(x86_simd)]
    {
        // SAFETY: the caller checked the CPU.
        unsafe { super::avx512::dot_cols(w0, w1, a) }
    }
    #[cfg(not(x86_simd))]
    {
        let _ = (w0, w1, a);
        unreachable!("wide kernels are x86-64 only")
    }
}

/// The `m x n` row-major output of a product, written column range by column range from
/// several threads at once.
pub struct Outputs {
    ptr: *mut f32,
    n: usize,
    m: usize,
}

// SAFETY: threads write disjoint column ranges (see `Outputs::columns`).
unsafe impl Send for Outputs {}
// SAFETY: as above.
unsafe impl Sync for Outputs {}

impl Outputs {
    /// Writes into `out`, which must hold `m * n` values and outlive every use.
    pub fn new(out: &mut [f32], m: usize, n: usize) -> Self {
        assert_eq!(out.len(), m * n);
        Self { ptr: out.as_mut_ptr(), n, m }
    }

    /// Writes output `(r, j)`.
    ///
    /// # Safety
    /// `r < m`, `j < n`, and no other thread writes column `j` meanwhile.
    #[inline]
    unsafe fn put(&self, r: usize, j: usize, v: f32) {
        debug_assert!(r < self.m && j < self.n);
        // SAFETY: in bounds by the caller's promise; columns are not shared between threads.
        unsafe { *self.ptr.add(r * self.n + j) = v };
    }
}

/// Computes columns `cols` of the output for all rows.
///
/// # Safety
/// `cols` is within the weight's rows, and no other thread writes these columns meanwhile.
pub unsafe fn fill_columns<F: Kernel>(w: &[F], cols: std::ops::Range<usize>, out: &Outputs, rows: &Rows<'_>) {
    // SAFETY: forwarded from the caller.
    unsafe {
        if wide_kernels() {
            fill_wide(w, cols, out, rows);
        } else {
            fill_baseline(w, cols, out, rows);
        }
    }
}

/// Weight row `j` of a matrix whose rows hold `bpr` activation blocks' worth of values.
fn weight_row<F: Format>(w: &[F], j: usize, bpr: usize) -> &[F] {
    let per_row = bpr / F::SUBS;
    debug_assert_eq!(per_row * F::SUBS * BLOCK, bpr * BLOCK);
    &w[j * per_row..(j + 1) * per_row]
}

/// AVX2 (or scalar): rows in groups of four share each unpacked weight block and stay in L1
/// while the chunk's columns stream past.
///
/// # Safety
/// As for [`fill_columns`].
pub unsafe fn fill_baseline<F: Kernel>(
    w: &[F],
    cols: std::ops::Range<usize>,
    out: &Outputs,
    rows: &Rows<'_>,
) {
    let m = rows.m;
    let mut r0 = 0;
    while r0 < m {
        let n = if m - r0 >= 4 { 4 } else { 1 };
        for j in cols.clone() {
            let w = weight_row(w, j, rows.bpr);
            let values: [f32; 4] = match n {
                4 => dot4(w, std::array::from_fn(|i| rows.row(r0 + i))),
                _ => [dot(w, rows.row(r0)), 0.0, 0.0, 0.0],
            };
            for (i, v) in values.into_iter().take(n).enumerate() {
                // SAFETY: `r0 + i < m`; the caller owns column `j`.
                unsafe { out.put(r0 + i, j, v) };
            }
        }
        r0 += n;
    }
}

/// AVX-512: pairs of rows in tiles of up to four pairs per weight row; an odd last row takes
/// two weight rows at a time.
///
/// # Safety
/// As for [`fill_columns`], and the CPU has what [`wide_kernels`] checks for.
pub unsafe fn fill_wide<F: Kernel>(w: &[F], cols: std::ops::Range<usize>, out: &Outputs, rows: &Rows<'_>) {
    let (m, bpr) = (rows.m, rows.bpr);
    let mut p0 = 0;
    while p0 < m / 2 {
        let tile = (m / 2 - p0).min(4);
        for j in cols.clone() {
            let w = weight_row(w, j, bpr);
            let pair = |i: usize| rows.pair(p0 + i);
            // SAFETY: the caller checked the CPU.
            let results: [[f32; 2]; 4] = unsafe {
                match tile {
                    4 => dot_pairs::<F, 4>(w, std::array::from_fn(pair)),
                    3 => pad(dot_pairs::<F, 3>(w, std::array::from_fn(pair))),
                    2 => pad(dot_pairs::<F, 2>(w, std::array::from_fn(pair))),
                    _ => pad(dot_pairs::<F, 1>(w, [pair(0)])),
                }
            };
            for (i, v) in results.iter().flatten().take(2 * tile).enumerate() {
                // SAFETY: `2 * p0 + i < m`; the caller owns column `j`.
                unsafe { out.put(2 * p0 + i, j, *v) };
            }
        }
        p0 += tile;
    }
    if m % 2 == 1 {
        let (r, act) = (m - 1, rows.row(m - 1));
        let mut j = cols.start;
        while j + 1 < cols.end {
            let (w0, w1) = (weight_row(w, j, bpr), weight_row(w, j + 1, bpr));
            // SAFETY: the caller checked the CPU and owns columns `j` and `j + 1`.
            unsafe {
                let [a, b] = dot_cols(w0, w1, act);
                out.put(r, j, a);
                out.put(r, j + 1, b);
            }
            j += 2;
        }
        if j < cols.end {
            // SAFETY: the caller owns column `j`.
            unsafe { out.put(r, j, dot(weight_row(w, j, bpr), act)) };
        }
    }
}

fn pad<const P: usize>(r: [[f32; 2]; P]) -> [[f32; 2]; 4] {
    std::array::from_fn(|i| if i < P { r[i] } else { [0.0; 2] })
}
