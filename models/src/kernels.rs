//! Quantized matrix-vector kernels for the llama projections: Q4_1 and Q8_0 weights against
//! activations quantized to 16 bits per 32-value block, with AVX2 on x86-64 and a scalar twin
//! that computes bit-identical results.
//!
//! Why 16-bit activations: with 8-bit ones (what llama.cpp does on CPU) this 135M model loses
//! enough precision to change greedy answers ("What is the capital of France?" no longer says
//! Paris); 16 bits track f32 closely at about twice the integer work.
//!
//! Every output is `sum over blocks` in block order of `scale * (exact integer dot)`, the integer
//! part split into the same eight lanes in both implementations (lane `l` holds elements `2l`,
//! `2l+1`, `16+2l` and `17+2l` of each block), lanes summed in one fixed tree at the end. Results
//! depend only on the weight row and the activation row: never on the batch, the thread count
//! or the machine.

use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;
use rayon::prelude::*;

use crate::{ModelError, Result};

/// Values per quantization block.
pub const BLOCK: usize = 32;

/// One block of 32 activations: `x ≈ d * qs`, with `s = d * sum(qs)` for Q4_1's offset term.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(8))]
pub struct ActBlock {
    d: f32,
    s: f32,
    qs: [i16; BLOCK],
}

/// Largest magnitude of a quantized activation.
const ACT_MAX: f32 = 32767.0;

/// A Q4_1 weight block: `w = d * q + m`, `q` in 0..16, element `j` in the low nibble of byte
/// `j`, element `j + 16` in its high nibble (GGML's layout). Scales widened to f32 at load.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct BlockQ4_1 {
    d: f32,
    m: f32,
    qs: [u8; 16],
}

/// A Q8_0 weight block: `w = d * q`.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct BlockQ8_0 {
    d: f32,
    qs: [i8; BLOCK],
}

#[derive(Debug, Clone)]
enum Weights {
    Q4_1(Vec<BlockQ4_1>),
    Q8_0(Vec<BlockQ8_0>),
}

/// A weight matrix of `n` rows (outputs) by `k` columns (inputs), quantized.
#[derive(Debug, Clone)]
pub struct QMatrix {
    n: usize,
    k: usize,
    weights: Weights,
}

fn half(bytes: &[u8]) -> f32 {
    f16::from_le_bytes([bytes[0], bytes[1]]).to_f32()
}

impl QMatrix {
    /// Takes a GGUF tensor of shape `(n, k)`: Q4_1 and Q8_0 are kept as they are, other types
    /// are requantized to Q8_0.
    pub fn from_qtensor(t: &QTensor) -> Result<Self> {
        let (n, k) = t.shape().dims2()?;
        if !k.is_multiple_of(BLOCK) {
            return Err(ModelError::Format(format!("row length {k} is not a multiple of {BLOCK}")));
        }
        let weights = match t.dtype() {
            GgmlDType::Q4_1 => {
                let data = t.data()?;
                Weights::Q4_1(
                    data.chunks_exact(20)
                        .map(|b| BlockQ4_1 {
                            d: half(&b[0..2]),
                            m: half(&b[2..4]),
                            qs: b[4..20].try_into().unwrap_or([0; 16]),
                        })
                        .collect(),
                )
            }
            GgmlDType::Q8_0 => Weights::Q8_0(q8_0_blocks(&t.data()?)),
            _ => {
                let requantized =
                    QTensor::quantize(&t.dequantize(&candle_core::Device::Cpu)?, GgmlDType::Q8_0)?;
                Weights::Q8_0(q8_0_blocks(&requantized.data()?))
            }
        };
        let blocks = match &weights {
            Weights::Q4_1(b) => b.len(),
            Weights::Q8_0(b) => b.len(),
        };
        if blocks != n * k / BLOCK {
            return Err(ModelError::Format(format!("tensor of {n}x{k} holds {blocks} blocks")));
        }
        Ok(Self { n, k, weights })
    }

    /// Output size.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// `out[r][j] = dot(weight row j, x row r)` for the `m` rows of `x` (row-major, `m x k`).
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.matmul_quantized(&quantize_rows(x, self.k), m)
    }

    /// [`QMatrix::matmul`] on activations already quantized with [`quantize_rows`], so several
    /// matrices that read the same input quantize it once.
    pub fn matmul_quantized(&self, acts: &[ActBlock], m: usize) -> Vec<f32> {
        let bpr = self.k / BLOCK;
        assert_eq!(acts.len(), m * bpr, "activations do not match the matrix");
        // Column chunks big enough to amortise scheduling, small enough to keep both cores busy.
        let cols = (self.n / 16).clamp(16, 256);
        let mut transposed = vec![0f32; self.n * m];
        let act = |r: usize| &acts[r * bpr..(r + 1) * bpr];
        transposed.par_chunks_mut(cols * m).enumerate().for_each(|(chunk, out)| {
            // Rows in groups of four (eight spill registers) share each unpacked weight block and
            // stay in L1 while the chunk's columns stream past.
            let mut r0 = 0;
            while r0 < m {
                let rows = if m - r0 >= 4 { 4 } else { 1 };
                for (c, out_col) in out.chunks_exact_mut(m).enumerate() {
                    let j = chunk * cols + c;
                    let dst = &mut out_col[r0..r0 + rows];
                    match &self.weights {
                        Weights::Q4_1(w) => {
                            let w = &w[j * bpr..(j + 1) * bpr];
                            match rows {
                                4 => dst.copy_from_slice(&dotn_q4_1::<4>(
                                    w,
                                    std::array::from_fn(|i| act(r0 + i)),
                                )),
                                _ => dst[0] = dot_q4_1(w, act(r0)),
                            }
                        }
                        Weights::Q8_0(w) => {
                            let w = &w[j * bpr..(j + 1) * bpr];
                            match rows {
                                4 => dst.copy_from_slice(&dotn_q8_0::<4>(
                                    w,
                                    std::array::from_fn(|i| act(r0 + i)),
                                )),
                                _ => dst[0] = dot_q8_0(w, act(r0)),
                            }
                        }
                    }
                }
                r0 += rows;
            }
        });
        let mut out = vec![0f32; m * self.n];
        for j in 0..self.n {
            for r in 0..m {
                out[r * self.n + j] = transposed[j * m + r];
            }
        }
        out
    }

    /// Row `j` dequantized (for embedding lookups).
    pub fn row(&self, j: usize) -> Vec<f32> {
        let bpr = self.k / BLOCK;
        let mut out = Vec::with_capacity(self.k);
        match &self.weights {
            Weights::Q4_1(w) => {
                for b in &w[j * bpr..(j + 1) * bpr] {
                    let lo = b.qs.iter().map(|q| f32::from(q & 0xF));
                    let hi = b.qs.iter().map(|q| f32::from(q >> 4));
                    out.extend(lo.chain(hi).map(|q| b.d * q + b.m));
                }
            }
            Weights::Q8_0(w) => {
                for b in &w[j * bpr..(j + 1) * bpr] {
                    out.extend(b.qs.iter().map(|&q| b.d * f32::from(q)));
                }
            }
        }
        out
    }
}

fn q8_0_blocks(data: &[u8]) -> Vec<BlockQ8_0> {
    data.chunks_exact(34)
        .map(|b| {
            let mut qs = [0i8; BLOCK];
            for (q, &byte) in qs.iter_mut().zip(&b[2..34]) {
                *q = byte as i8;
            }
            BlockQ8_0 { d: half(&b[0..2]), qs }
        })
        .collect()
}

/// Quantizes each `k`-long row of `x` into 16-bit blocks (rows in parallel; each block depends
/// only on its own 32 values).
pub fn quantize_rows(x: &[f32], k: usize) -> Vec<ActBlock> {
    debug_assert!(k.is_multiple_of(BLOCK));
    let mut out = vec![ActBlock { d: 0.0, s: 0.0, qs: [0; BLOCK] }; x.len() / BLOCK];
    out.par_chunks_mut(k / BLOCK).zip(x.par_chunks_exact(k)).for_each(|(out, row)| {
        for (o, block) in out.iter_mut().zip(row.chunks_exact(BLOCK)) {
            let amax = block.iter().fold(0f32, |a, v| a.max(v.abs()));
            let d = amax / ACT_MAX;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut qs = [0i16; BLOCK];
            let mut sum = 0i32;
            for (q, &v) in qs.iter_mut().zip(block) {
                *q = (v * inv).round().clamp(-ACT_MAX, ACT_MAX) as i16;
                sum += i32::from(*q);
            }
            *o = ActBlock { d, s: d * sum as f32, qs };
        }
    });
    out
}

/// Sums eight lanes in the one fixed tree both implementations use.
#[inline]
fn reduce(l: [f32; 8]) -> f32 {
    ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))
}

fn dot_q4_1(w: &[BlockQ4_1], a: &[ActBlock]) -> f32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    {
        // SAFETY: the target features are enabled at compile time.
        unsafe { avx2::dot_q4_1(w, a) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    {
        scalar::dot_q4_1(w, a)
    }
}

fn dot_q8_0(w: &[BlockQ8_0], a: &[ActBlock]) -> f32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    {
        // SAFETY: the target features are enabled at compile time.
        unsafe { avx2::dot_q8_0(w, a) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    {
        scalar::dot_q8_0(w, a)
    }
}

fn dotn_q4_1<const N: usize>(w: &[BlockQ4_1], a: [&[ActBlock]; N]) -> [f32; N] {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    {
        // SAFETY: the target features are enabled at compile time.
        unsafe { avx2::dotn_q4_1(w, a) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    {
        a.map(|a| scalar::dot_q4_1(w, a))
    }
}

fn dotn_q8_0<const N: usize>(w: &[BlockQ8_0], a: [&[ActBlock]; N]) -> [f32; N] {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
    {
        // SAFETY: the target features are enabled at compile time.
        unsafe { avx2::dotn_q8_0(w, a) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
    {
        a.map(|a| scalar::dot_q8_0(w, a))
    }
}

/// The reference implementation; the AVX2 one must match it bit for bit.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"), allow(dead_code))]
mod scalar {
    use super::{ActBlock, BLOCK, BlockQ4_1, BlockQ8_0, reduce};

    fn lanes(prod: impl Fn(usize) -> i32) -> [i32; 8] {
        let mut out = [0i32; 8];
        for (l, lane) in out.iter_mut().enumerate() {
            *lane = prod(2 * l) + prod(2 * l + 1) + prod(16 + 2 * l) + prod(17 + 2 * l);
        }
        out
    }

    pub fn dot_q4_1(w: &[BlockQ4_1], a: &[ActBlock]) -> f32 {
        let mut acc = [0f32; 8];
        let mut offset = 0f32;
        for (wb, ab) in w.iter().zip(a) {
            let q = |e: usize| if e < BLOCK / 2 { wb.qs[e] & 0xF } else { wb.qs[e - BLOCK / 2] >> 4 };
            let sums = lanes(|e| i32::from(q(e)) * i32::from(ab.qs[e]));
            let scale = wb.d * ab.d;
            for (acc, s) in acc.iter_mut().zip(sums) {
                *acc = scale.mul_add(s as f32, *acc);
            }
            offset = wb.m.mul_add(ab.s, offset);
        }
        reduce(acc) + offset
    }

    pub fn dot_q8_0(w: &[BlockQ8_0], a: &[ActBlock]) -> f32 {
        let mut acc = [0f32; 8];
        for (wb, ab) in w.iter().zip(a) {
            let sums = lanes(|e| i32::from(wb.qs[e]) * i32::from(ab.qs[e]));
            let scale = wb.d * ab.d;
            for (acc, s) in acc.iter_mut().zip(sums) {
                *acc = scale.mul_add(s as f32, *acc);
            }
        }
        reduce(acc)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{ActBlock, BlockQ4_1, BlockQ8_0, reduce};

    #[inline]
    unsafe fn lanes(v: __m256) -> [f32; 8] {
        let mut out = [0f32; 8];
        // SAFETY: `out` has room for eight f32.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
        out
    }

    /// Multiplies 32 weights (as i16, elements 0..16 in `lo`, 16..32 in `hi`) with a block of
    /// activations: eight i32 lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn block_dot(lo: __m256i, hi: __m256i, a: &ActBlock) -> __m256i {
        // SAFETY: the block holds 32 i16.
        let (a_lo, a_hi) = unsafe {
            (_mm256_loadu_si256(a.qs.as_ptr().cast()), _mm256_loadu_si256(a.qs.as_ptr().add(16).cast()))
        };
        _mm256_add_epi32(_mm256_madd_epi16(lo, a_lo), _mm256_madd_epi16(hi, a_hi))
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_q4_1(w: &[BlockQ4_1], a: &[ActBlock]) -> f32 {
        let low = _mm_set1_epi8(0x0F);
        let mut acc = _mm256_setzero_ps();
        let mut offset = 0f32;
        for (wb, ab) in w.iter().zip(a) {
            // SAFETY: the block holds 16 readable bytes.
            let packed = unsafe { _mm_loadu_si128(wb.qs.as_ptr().cast()) };
            let lo = _mm256_cvtepu8_epi16(_mm_and_si128(packed, low));
            let hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low));
            // SAFETY: same target features.
            let sums = unsafe { block_dot(lo, hi, ab) };
            acc = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * ab.d), _mm256_cvtepi32_ps(sums), acc);
            offset = wb.m.mul_add(ab.s, offset);
        }
        // SAFETY: plain register store.
        reduce(unsafe { lanes(acc) }) + offset
    }

    /// `N` activation rows against one Q4_1 weight row; each result equals [`dot_q4_1`]'s.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dotn_q4_1<const N: usize>(w: &[BlockQ4_1], a: [&[ActBlock]; N]) -> [f32; N] {
        let low = _mm_set1_epi8(0x0F);
        let mut acc = [_mm256_setzero_ps(); N];
        let mut offset = [0f32; N];
        for (b, wb) in w.iter().enumerate() {
            // SAFETY: the block holds 16 readable bytes.
            let packed = unsafe { _mm_loadu_si128(wb.qs.as_ptr().cast()) };
            let lo = _mm256_cvtepu8_epi16(_mm_and_si128(packed, low));
            let hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low));
            for r in 0..N {
                let ab = &a[r][b];
                // SAFETY: same target features.
                let sums = unsafe { block_dot(lo, hi, ab) };
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * ab.d), _mm256_cvtepi32_ps(sums), acc[r]);
                offset[r] = wb.m.mul_add(ab.s, offset[r]);
            }
        }
        // SAFETY: plain register stores.
        std::array::from_fn(|r| reduce(unsafe { lanes(acc[r]) }) + offset[r])
    }

    /// `N` activation rows against one Q8_0 weight row; each result equals [`dot_q8_0`]'s.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dotn_q8_0<const N: usize>(w: &[BlockQ8_0], a: [&[ActBlock]; N]) -> [f32; N] {
        let mut acc = [_mm256_setzero_ps(); N];
        for (b, wb) in w.iter().enumerate() {
            // SAFETY: the block holds 32 readable bytes.
            let (lo, hi) = unsafe {
                (
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.qs.as_ptr().cast())),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.qs.as_ptr().add(16).cast())),
                )
            };
            for r in 0..N {
                let ab = &a[r][b];
                // SAFETY: same target features.
                let sums = unsafe { block_dot(lo, hi, ab) };
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * ab.d), _mm256_cvtepi32_ps(sums), acc[r]);
            }
        }
        // SAFETY: plain register stores.
        std::array::from_fn(|r| reduce(unsafe { lanes(acc[r]) }))
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_q8_0(w: &[BlockQ8_0], a: &[ActBlock]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for (wb, ab) in w.iter().zip(a) {
            // SAFETY: the block holds 32 readable bytes.
            let (lo, hi) = unsafe {
                (
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.qs.as_ptr().cast())),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.qs.as_ptr().add(16).cast())),
                )
            };
            // SAFETY: same target features.
            let sums = unsafe { block_dot(lo, hi, ab) };
            acc = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * ab.d), _mm256_cvtepi32_ps(sums), acc);
        }
        // SAFETY: plain register store.
        reduce(unsafe { lanes(acc) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn weights(n: usize, k: usize, dtype: GgmlDType) -> QTensor {
        let v: Vec<f32> = (0..n * k).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 0.3).collect();
        let t = Tensor::from_vec(v, (n, k), &Device::Cpu).expect("tensor");
        QTensor::quantize(&t, dtype).expect("quantize")
    }

    fn input(m: usize, k: usize) -> Vec<f32> {
        (0..m * k).map(|i| ((i * 31 % 97) as f32 / 48.0 - 1.0) * 2.0).collect()
    }

    #[test]
    fn simd_matches_scalar_bit_for_bit() {
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let q = QMatrix::from_qtensor(&weights(40, 96, dtype)).expect("matrix");
            let acts = quantize_rows(&input(3, 96), 96);
            for j in 0..40 {
                for r in 0..3 {
                    let a = &acts[r * 3..(r + 1) * 3];
                    let (fast, slow) = match &q.weights {
                        Weights::Q4_1(w) => {
                            (dot_q4_1(&w[j * 3..j * 3 + 3], a), scalar::dot_q4_1(&w[j * 3..j * 3 + 3], a))
                        }
                        Weights::Q8_0(w) => {
                            (dot_q8_0(&w[j * 3..j * 3 + 3], a), scalar::dot_q8_0(&w[j * 3..j * 3 + 3], a))
                        }
                    };
                    assert_eq!(fast.to_bits(), slow.to_bits(), "{dtype:?} col {j} row {r}");
                }
            }
        }
    }

    #[test]
    fn four_row_kernels_match_single_row_bit_for_bit() {
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let q = QMatrix::from_qtensor(&weights(8, 96, dtype)).expect("matrix");
            let acts = quantize_rows(&input(4, 96), 96);
            let a = |r: usize| &acts[r * 3..(r + 1) * 3];
            for j in 0..8 {
                let (four, one): ([f32; 4], [f32; 4]) = match &q.weights {
                    Weights::Q4_1(w) => {
                        let w = &w[j * 3..j * 3 + 3];
                        (
                            dotn_q4_1::<4>(w, [a(0), a(1), a(2), a(3)]),
                            std::array::from_fn(|r| dot_q4_1(w, a(r))),
                        )
                    }
                    Weights::Q8_0(w) => {
                        let w = &w[j * 3..j * 3 + 3];
                        (
                            dotn_q8_0::<4>(w, [a(0), a(1), a(2), a(3)]),
                            std::array::from_fn(|r| dot_q8_0(w, a(r))),
                        )
                    }
                };
                assert_eq!(four.map(f32::to_bits), one.map(f32::to_bits));
            }
        }
    }

    #[test]
    fn close_to_candle_reference() {
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let qt = weights(64, 128, dtype);
            let x = input(4, 128);
            let ours = QMatrix::from_qtensor(&qt).expect("matrix").matmul(&x, 4);
            let dense = qt.dequantize(&Device::Cpu).expect("deq");
            // The kernel quantizes activations to 8 bits: compare with exactly those values.
            let xq: Vec<f32> = quantize_rows(&x, 128)
                .iter()
                .flat_map(|b| b.qs.iter().map(move |&q| b.d * f32::from(q)))
                .collect();
            let xt = Tensor::from_vec(xq, (4, 128), &Device::Cpu).expect("x");
            let reference: Vec<f32> = xt
                .matmul(&dense.t().expect("t"))
                .expect("mm")
                .flatten_all()
                .expect("f")
                .to_vec1()
                .expect("v");
            for (a, b) in ours.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{dtype:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn batching_does_not_change_a_row() {
        let q = QMatrix::from_qtensor(&weights(48, 64, GgmlDType::Q4_1)).expect("matrix");
        let x = input(5, 64);
        let batched = q.matmul(&x, 5);
        for r in 0..5 {
            let alone = q.matmul(&x[r * 64..(r + 1) * 64], 1);
            assert_eq!(&batched[r * 48..(r + 1) * 48], &alone[..]);
        }
    }

    #[test]
    fn rows_dequantize_like_candle() {
        let qt = weights(8, 64, GgmlDType::Q4_1);
        let q = QMatrix::from_qtensor(&qt).expect("matrix");
        let dense: Vec<Vec<f32>> = qt.dequantize(&Device::Cpu).expect("deq").to_vec2().expect("v");
        assert_eq!(q.row(3), dense[3]);
    }
}
