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

#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod dispatch;
#[cfg_attr(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"), allow(dead_code))]
mod scalar;
#[cfg(test)]
mod tests;

use dispatch::{Outputs, Rows, fill_columns, pair_rows, wide_kernels};

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
        matmul_group(&[self], acts, m).pop().unwrap_or_default()
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
        unsafe {
            match &mats[i].weights {
                Weights::Q4_1(w) => fill_columns(w, range, &outputs[i], &rows),
                Weights::Q8_0(w) => fill_columns(w, range, &outputs[i], &rows),
            }
        }
    });
    drop(outputs);
    outs
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

/// Asks for the weights a few kilobytes ahead of the one being read. Every step streams all the
/// weights once from memory, and without this the kernels stall on the loads (decode ran 1.4x
/// slower here); the hardware prefetcher alone does not run far enough ahead.
#[cfg(target_arch = "x86_64")]
#[inline]
fn prefetch_ahead<T>(block: &T) {
    const AHEAD: usize = 4096;
    let p = (block as *const T).cast::<i8>().wrapping_add(AHEAD);
    // SAFETY: a prefetch has no architectural effect, whatever the address.
    unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p) };
}

/// Sums eight lanes in the one fixed tree both implementations use.
#[inline]
fn reduce(l: [f32; 8]) -> f32 {
    ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))
}
