//! Quantized matrix-vector kernels for the transformer's projections: GGUF weights read in place
//! (Q4_1, Q5_0, Q8_0, Q4_K, Q6_K; see `formats`) against activations quantized to 16 bits per
//! 32-value block, with AVX2 on x86-64, AVX-512 VNNI chosen at run time, and a scalar twin that
//! computes bit-identical results.
//!
//! Why 16-bit activations: with 8-bit ones (what llama.cpp does on CPU) the 135M model loses
//! enough precision to change greedy answers ("What is the capital of France?" no longer says
//! Paris); 16 bits track f32 closely at about twice the integer work.
//!
//! Every output is `sum over 32-value sub-blocks` in order of `scale * (exact integer dot)`, the
//! integer part split into the same eight lanes in every implementation (lane `l` holds elements
//! `2l`, `2l+1`, `16+2l` and `17+2l` of each sub-block), lanes summed in one fixed tree at the
//! end, plus (for formats with a minimum) `sum of min * activation sum` in a separate
//! accumulator. Results depend only on the weight row and the activation row: never on the
//! batch, the thread count or the machine.

use candle_core::quantized::{GgmlDType, QTensor};
use rayon::prelude::*;

use crate::weights::Bytes;
use crate::{ModelError, Result};

#[cfg(x86_simd)]
mod avx2;
#[cfg(x86_simd)]
mod avx512;
mod dispatch;
mod formats;
#[cfg_attr(x86_simd, allow(dead_code))]
mod scalar;
#[cfg(x86_simd)]
mod unpack;

use dispatch::{Outputs, Rows, fill_columns, pair_rows, wide_kernels};
use formats::{BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ6K, BlockQ8_0, Format, as_blocks};

/// Values per quantization block of the activations (and sub-block of the weights).
pub const BLOCK: usize = 32;

/// One block of 32 activations: `x ≈ d * qs`, with `s = d * sum(qs)` for the offset term of
/// formats with a minimum.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(8))]
pub struct ActBlock {
    d: f32,
    s: f32,
    qs: [i16; BLOCK],
}

/// Two activation rows' block `b` side by side, for the 512-bit kernels: the low sixteen values
/// of both rows, the high sixteen of both, each row's scale spread over its eight lanes, and both
/// offset terms.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub struct PairBlock {
    lo: [i16; BLOCK],
    hi: [i16; BLOCK],
    d: [f32; 16],
    s: [f32; 2],
}

/// Largest magnitude of a quantized activation.
const ACT_MAX: f32 = 32767.0;

/// The weight formats with kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Q4_1,
    Q5_0,
    Q8_0,
    Q4K,
    Q6K,
}

impl Kind {
    fn of(dtype: GgmlDType) -> Option<Self> {
        Some(match dtype {
            GgmlDType::Q4_1 => Self::Q4_1,
            GgmlDType::Q5_0 => Self::Q5_0,
            GgmlDType::Q8_0 => Self::Q8_0,
            GgmlDType::Q4K => Self::Q4K,
            GgmlDType::Q6K => Self::Q6K,
            _ => return None,
        })
    }

    /// Values per block and bytes per block.
    fn block_shape(self) -> (usize, usize) {
        fn shape<F: Format>() -> (usize, usize) {
            (F::SUBS * BLOCK, size_of::<F>())
        }
        match self {
            Self::Q4_1 => shape::<BlockQ4_1>(),
            Self::Q5_0 => shape::<BlockQ5_0>(),
            Self::Q8_0 => shape::<BlockQ8_0>(),
            Self::Q4K => shape::<BlockQ4K>(),
            Self::Q6K => shape::<BlockQ6K>(),
        }
    }
}

/// Runs `$body` with `$w` bound to the matrix's blocks in their format's type.
macro_rules! with_blocks {
    ($q:expr, |$w:ident| $body:expr) => {{
        let bytes = $q.bytes.as_slice();
        match $q.kind {
            Kind::Q4_1 => {
                let $w = as_blocks::<BlockQ4_1>(bytes);
                $body
            }
            Kind::Q5_0 => {
                let $w = as_blocks::<BlockQ5_0>(bytes);
                $body
            }
            Kind::Q8_0 => {
                let $w = as_blocks::<BlockQ8_0>(bytes);
                $body
            }
            Kind::Q4K => {
                let $w = as_blocks::<BlockQ4K>(bytes);
                $body
            }
            Kind::Q6K => {
                let $w = as_blocks::<BlockQ6K>(bytes);
                $body
            }
        }
    }};
}

/// A weight matrix of `n` rows (outputs) by `k` columns (inputs), quantized, its blocks read
/// where they lie (usually in the memory-mapped GGUF file).
#[derive(Debug, Clone)]
pub struct QMatrix {
    n: usize,
    k: usize,
    kind: Kind,
    bytes: Bytes,
}

impl QMatrix {
    /// The `n x k` matrix of type `dtype` stored in `bytes`, when a kernel reads that type.
    pub fn from_bytes(bytes: Bytes, dtype: GgmlDType, n: usize, k: usize) -> Result<Option<Self>> {
        let Some(kind) = Kind::of(dtype) else { return Ok(None) };
        let (values, size) = kind.block_shape();
        if !k.is_multiple_of(values) {
            return Err(ModelError::Format(format!("row length {k} is not a multiple of {values}")));
        }
        if bytes.as_slice().len() != n * k / values * size {
            return Err(ModelError::Format(format!(
                "a {n}x{k} {dtype:?} matrix needs {} bytes, found {}",
                n * k / values * size,
                bytes.as_slice().len()
            )));
        }
        Ok(Some(Self { n, k, kind, bytes }))
    }

    /// Takes a candle tensor of shape `(n, k)`, copying its blocks; types without a kernel are
    /// requantized to Q8_0.
    pub fn from_qtensor(t: &QTensor) -> Result<Self> {
        let (n, k) = t.shape().dims2()?;
        let requantized = match Kind::of(t.dtype()) {
            Some(_) => None,
            None => Some(QTensor::quantize(&t.dequantize(&candle_core::Device::Cpu)?, GgmlDType::Q8_0)?),
        };
        let t = requantized.as_ref().unwrap_or(t);
        let bytes = Bytes::owned(t.data()?.into_owned());
        Self::from_bytes(bytes, t.dtype(), n, k)?
            .ok_or_else(|| ModelError::Format(format!("no kernel for {:?}", t.dtype())))
    }

    /// `out[r][j] = dot(weight row j, x row r)` for the `m` rows of `x` (row-major, `m x k`).
    pub fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.matmul_quantized(&quantize_rows(x, self.k), m)
    }

    /// [`QMatrix::matmul`] on activations already quantized with [`quantize_rows`], so several
    /// matrices that read the same input quantize it once.
    pub fn matmul_quantized(&self, acts: &[ActBlock], m: usize) -> Vec<f32> {
        matmul_group(&[self], acts, m).pop().unwrap_or_default()
    }

    /// Row `j` dequantized (for embedding lookups).
    pub fn row(&self, j: usize) -> Vec<f32> {
        with_blocks!(self, |w| dequantize_row(w, j, self.k))
    }
}

fn dequantize_row<F: Format>(w: &[F], j: usize, k: usize) -> Vec<f32> {
    let per_row = k / (F::SUBS * BLOCK);
    let mut out = Vec::with_capacity(k);
    for b in &w[j * per_row..(j + 1) * per_row] {
        let scales = b.scales();
        for s in 0..F::SUBS {
            let (scale, min) = (scales.scale[s], scales.min[s]);
            let q = b.unpack(s).map(f32::from);
            if F::HAS_MIN {
                out.extend(q.iter().map(|&q| scale * q + min));
            } else {
                out.extend(q.iter().map(|&q| scale * q));
            }
        }
    }
    out
}

/// [`QMatrix::matmul_quantized`] for several matrices that read the same input (a layer's
/// query, key and value projections; its gate and up projections) in one parallel pass: one
/// fork-join per group instead of one per matrix, which at batch 1 is a tenth of a step.
pub fn matmul_group(mats: &[&QMatrix], acts: &[ActBlock], m: usize) -> Vec<Vec<f32>> {
    let Some(first) = mats.first() else { return Vec::new() };
    let bpr = first.k / BLOCK;
    assert!(mats.iter().all(|q| q.k == first.k), "the matrices of a group read inputs of one size");
    assert_eq!(acts.len(), m * bpr, "activations do not match the matrix");
    let pairs = if wide_kernels() && m >= 2 { pair_rows(acts, m, bpr) } else { Vec::new() };
    let rows = Rows { acts, pairs: &pairs, m, bpr };
    let mut outs: Vec<Vec<f32>> = mats.iter().map(|q| vec![0f32; m * q.n]).collect();
    let outputs: Vec<Outputs> = outs.iter_mut().zip(mats).map(|(out, q)| Outputs::new(out, m, q.n)).collect();
    // Column chunks big enough to amortise scheduling, small enough to keep both cores busy.
    let chunks: Vec<(usize, std::ops::Range<usize>)> = mats
        .iter()
        .enumerate()
        .flat_map(|(i, q)| {
            let cols = (q.n / 16).clamp(16, 256);
            (0..q.n.div_ceil(cols)).map(move |c| (i, c * cols..((c + 1) * cols).min(q.n)))
        })
        .collect();
    chunks.into_par_iter().for_each(|(i, range)| {
        // SAFETY: the chunks' column ranges are disjoint within each matrix and within it.
        unsafe { with_blocks!(mats[i], |w| fill_columns(w, range, &outputs[i], &rows)) }
    });
    drop(outputs);
    outs
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

/// Asks for the weights a few kilobytes ahead of sub-block `s` of `block`. Every step streams
/// all the weights once from memory, and without this the kernels stall on the loads (decode
/// ran 1.4x slower here); the hardware prefetcher alone does not run far enough ahead.
#[cfg(x86_simd)]
#[inline]
fn prefetch_ahead<F: Format>(block: &F, s: usize) {
    const AHEAD: usize = 4096;
    let p = (block as *const F).cast::<i8>().wrapping_add(AHEAD + s * size_of::<F>() / F::SUBS);
    // SAFETY: a prefetch has no architectural effect, whatever the address.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p) };
}

/// Sums eight lanes in the one fixed tree every implementation uses.
#[inline]
fn reduce(l: [f32; 8]) -> f32 {
    ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))
}

// After `with_blocks!`, which the tests use.
#[cfg(test)]
mod tests;
