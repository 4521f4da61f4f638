//! Fixed-order numeric kernels of the llama forward pass: dot products, RMS norm and causal
//! attention over one sequence's KV cache.
//!
//! Each result depends only on its own inputs, never on how many rows, sequences or threads a
//! call covers: reductions use eight independent lanes summed in one fixed tree, so the compiler
//! may vectorise them but cannot reorder them. That is what makes outputs batch-invariant.

const LANES: usize = 8;

/// The head size of SmolLM2 and most small llamas, which gets a register-resident loop.
const HEAD_DIM_64: usize = 64;

/// Dot product in the fixed lane order.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; LANES];
    let chunks = a.len() / LANES * LANES;
    for (ca, cb) in a[..chunks].chunks_exact(LANES).zip(b[..chunks].chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += ca[i] * cb[i];
        }
    }
    for i in chunks..a.len() {
        acc[i - chunks] += a[i] * b[i];
    }
    reduce(acc)
}

/// [`dot`] of one vector with four others: the same operations per pair (a multiply, then an add
/// into lane `i % 8`, then the fixed tree), four chains interleaved so they overlap.
#[inline]
fn dot4(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    if a.len().is_multiple_of(LANES) {
        // SAFETY: the target feature is enabled at compile time; lengths are checked inside.
        return unsafe { dot4_avx2(a, b) };
    }
    b.map(|b| dot(a, b))
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
#[target_feature(enable = "avx2")]
fn dot4_avx2(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    assert!(b.iter().all(|b| b.len() == a.len()));
    let mut acc = [_mm256_setzero_ps(); 4];
    for c in (0..a.len()).step_by(LANES) {
        // SAFETY: `c + 8 <= len` for every slice (asserted above, len a multiple of 8).
        let va = unsafe { _mm256_loadu_ps(a.as_ptr().add(c)) };
        for (acc, b) in acc.iter_mut().zip(&b) {
            // SAFETY: as above.
            let vb = unsafe { _mm256_loadu_ps(b.as_ptr().add(c)) };
            *acc = _mm256_add_ps(*acc, _mm256_mul_ps(va, vb));
        }
    }
    acc.map(|v| {
        // ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)), as `reduce`.
        let x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let h = _mm_hadd_ps(x, x);
        _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)))
    })
}

#[inline]
fn reduce(acc: [f32; LANES]) -> f32 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// `out = x / rms(x) * weight`, row by row.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let dim = weight.len();
    for (row, out) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let mean = dot(row, row) / dim as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
            *o = v * scale * w;
        }
    }
}

/// Shapes of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_heads`).
    pub n_kv_heads: usize,
    /// Size of one head.
    pub head_dim: usize,
}

/// The first `len` positions of one sequence's keys and values, laid out `[pos][kv_head][dim]`.
#[derive(Debug, Clone, Copy)]
pub struct CacheView<'a> {
    /// Keys.
    pub k: &'a [f32],
    /// Values.
    pub v: &'a [f32],
    /// Positions to attend to.
    pub len: usize,
}

/// Attention of one query head over a cache view. `scores` is scratch space.
pub fn attend_head(
    shape: AttentionShape,
    q: &[f32],
    head: usize,
    cache: CacheView<'_>,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let CacheView { k: k_cache, v: v_cache, len } = cache;
    let hd = shape.head_dim;
    let kv_dim = shape.n_kv_heads * hd;
    let kv_head = head / (shape.n_heads / shape.n_kv_heads);
    let scale = 1.0 / (hd as f32).sqrt();
    let key = |pos: usize| &k_cache[pos * kv_dim + kv_head * hd..][..hd];
    let value = |pos: usize| &v_cache[pos * kv_dim + kv_head * hd..][..hd];
    scores.clear();
    let mut pos = 0;
    while pos + 4 <= len {
        let d = dot4(q, [key(pos), key(pos + 1), key(pos + 2), key(pos + 3)]);
        scores.extend(d.map(|d| d * scale));
        pos += 4;
    }
    scores.extend((pos..len).map(|pos| dot(q, key(pos)) * scale));
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    let mut total = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        total += *s;
    }
    if hd == HEAD_DIM_64 {
        // In registers: the same sums in the same order as the general loop below.
        let mut acc = [0f32; HEAD_DIM_64];
        for (pos, &p) in scores.iter().enumerate() {
            for (o, &x) in acc.iter_mut().zip(value(pos)) {
                *o += p * x;
            }
        }
        out.copy_from_slice(&acc);
    } else {
        out.fill(0.0);
        for (pos, &p) in scores.iter().enumerate() {
            for (o, &x) in out.iter_mut().zip(value(pos)) {
                *o += p * x;
            }
        }
    }
    let inv = 1.0 / total;
    for o in out.iter_mut() {
        *o *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_within_rounding() {
        let a: Vec<f32> = (0..67).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..67).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
        assert!((f64::from(dot(&a, &b)) - naive).abs() < 1e-4);
    }

    #[test]
    fn dot4_equals_four_dots_bit_for_bit() {
        for len in [3, 8, 64, 67] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<Vec<f32>> =
                (0..4).map(|k| (0..len).map(|i| (i as f32 * 0.11 + k as f32).cos()).collect()).collect();
            let four = dot4(&a, [&b[0], &b[1], &b[2], &b[3]]);
            for k in 0..4 {
                assert_eq!(four[k].to_bits(), dot(&a, &b[k]).to_bits(), "len {len} vector {k}");
            }
        }
    }

    #[test]
    fn attention_over_one_position_returns_its_value() {
        let shape = AttentionShape { n_heads: 2, n_kv_heads: 1, head_dim: 4 };
        let k = [1.0, 0.0, 0.0, 0.0];
        let v = [0.5, -1.0, 2.0, 3.0];
        let mut out = [0f32; 4];
        attend_head(
            shape,
            &[1.0, 2.0, 3.0, 4.0],
            1,
            CacheView { k: &k, v: &v, len: 1 },
            &mut Vec::new(),
            &mut out,
        );
        assert_eq!(out, v);
    }

    #[test]
    fn attention_weights_follow_softmax() {
        let shape = AttentionShape { n_heads: 1, n_kv_heads: 1, head_dim: 1 };
        // Scores 0 and ln(3) (scale 1 for dim 1): weights 1/4 and 3/4.
        let k = [0.0, 3f32.ln()];
        let v = [4.0, 8.0];
        let mut out = [0f32; 1];
        attend_head(shape, &[1.0], 0, CacheView { k: &k, v: &v, len: 2 }, &mut Vec::new(), &mut out);
        assert!((out[0] - 7.0).abs() < 1e-5, "{out:?}");
    }
}
