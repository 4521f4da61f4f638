//! Fixed-order numeric kernels of the llama forward pass: dot products, RMS norm and causal
//! attention over one sequence's KV cache.
//!
//! Each result depends only on its own inputs, never on how many rows, sequences or threads a
//! call covers: reductions use eight independent lanes summed in one fixed tree, so the compiler
//! may vectorise them but cannot reorder them. That is what makes outputs batch-invariant.

use half::f16;

const LANES: usize = 8;

/// The head size of SmolLM2 and most small llamas, which gets a register-resident loop.
const HEAD_DIM_64: usize = 64;

/// Dot product in the fixed lane order.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_widened(a, b, |x| x)
}

/// [`dot`] with `b`'s elements widened to f32 first (exactly, for f16).
#[inline]
fn dot_widened<T: Copy>(a: &[f32], b: &[T], widen: impl Fn(T) -> f32) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; LANES];
    let chunks = a.len() / LANES * LANES;
    for (ca, cb) in a[..chunks].chunks_exact(LANES).zip(b[..chunks].chunks_exact(LANES)) {
        for i in 0..LANES {
            acc[i] += ca[i] * widen(cb[i]);
        }
    }
    for i in chunks..a.len() {
        acc[i - chunks] += a[i] * widen(b[i]);
    }
    reduce(acc)
}

/// [`dot`] of a vector with a stored f16 key, widened exactly.
fn dot_key(q: &[f32], k: &[f16]) -> f32 {
    dot_widened(q, k, f16::to_f32)
}

/// [`dot_key`] of one query with four keys: the same operations per pair (a multiply, then an
/// add into lane `i % 8`, then the fixed tree), four chains interleaved so they overlap.
#[inline]
fn dot_keys4(q: &[f32], k: [&[f16]; 4]) -> [f32; 4] {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "f16c"))]
    if q.len().is_multiple_of(LANES) {
        // SAFETY: the target features are enabled at compile time; lengths are checked inside.
        return unsafe { dot_keys4_avx2(q, k) };
    }
    k.map(|k| dot_key(q, k))
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "f16c"))]
#[target_feature(enable = "avx2,f16c")]
fn dot_keys4_avx2(q: &[f32], k: [&[f16]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    assert!(k.iter().all(|k| k.len() == q.len()));
    let mut acc = [_mm256_setzero_ps(); 4];
    for c in (0..q.len()).step_by(LANES) {
        // SAFETY: `c + 8 <= len` for every slice (asserted above, len a multiple of 8).
        let vq = unsafe { _mm256_loadu_ps(q.as_ptr().add(c)) };
        for (acc, k) in acc.iter_mut().zip(&k) {
            // SAFETY: as above; eight f16 are 16 bytes.
            let vk = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(k.as_ptr().add(c).cast()) });
            *acc = _mm256_add_ps(*acc, _mm256_mul_ps(vq, vk));
        }
    }
    acc.map(|v| {
        // ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)), as `reduce`.
        let x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let h = _mm_hadd_ps(x, x);
        _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)))
    })
}

/// `out[d] = sum over positions, in order, of p[pos] * v[pos][d]`, the values widened exactly.
fn weighted_values(p: &[f32], value: impl Fn(usize) -> *const f16, out: &mut [f32]) {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "f16c"))]
    if out.len() == HEAD_DIM_64 {
        // SAFETY: the target features are enabled at compile time; `value` gives 64 readable
        // values for each position.
        unsafe { weighted_values_64(p, value, out) };
        return;
    }
    out.fill(0.0);
    for (pos, &p) in p.iter().enumerate() {
        // SAFETY: `value` gives `out.len()` readable values for each position.
        let v = unsafe { std::slice::from_raw_parts(value(pos), out.len()) };
        for (o, x) in out.iter_mut().zip(v) {
            *o += p * x.to_f32();
        }
    }
}

/// [`weighted_values`] for 64-wide heads with the sums in registers.
///
/// # Safety
/// `value(pos)` points at 64 readable f16 for every position of `p`.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "f16c"))]
#[target_feature(enable = "avx2,f16c")]
unsafe fn weighted_values_64(p: &[f32], value: impl Fn(usize) -> *const f16, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); HEAD_DIM_64 / LANES];
    for (pos, &p) in p.iter().enumerate() {
        let (v, p) = (value(pos), _mm256_set1_ps(p));
        for (c, acc) in acc.iter_mut().enumerate() {
            // SAFETY: within the 64 values the caller promises.
            let x = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(v.add(c * LANES).cast()) });
            *acc = _mm256_add_ps(*acc, _mm256_mul_ps(p, x));
        }
    }
    for (c, acc) in acc.iter().enumerate() {
        // SAFETY: `out` holds 64 values.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(c * LANES), *acc) };
    }
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
    pub k: &'a [f16],
    /// Values.
    pub v: &'a [f16],
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
    assert!(len * kv_dim <= v_cache.len(), "the cache holds fewer than {len} positions");
    let value = |pos: usize| v_cache[pos * kv_dim + kv_head * hd..][..hd].as_ptr();
    scores.clear();
    let mut pos = 0;
    while pos + 4 <= len {
        let d = dot_keys4(q, [key(pos), key(pos + 1), key(pos + 2), key(pos + 3)]);
        scores.extend(d.map(|d| d * scale));
        pos += 4;
    }
    scores.extend((pos..len).map(|pos| dot_key(q, key(pos)) * scale));
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    let mut total = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        total += *s;
    }
    weighted_values(scores, value, out);
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

    fn halves(v: impl IntoIterator<Item = f32>) -> Vec<f16> {
        v.into_iter().map(f16::from_f32).collect()
    }

    #[test]
    fn four_key_dots_equal_single_ones_bit_for_bit() {
        for len in [3, 8, 64, 67] {
            let q: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let k: Vec<Vec<f16>> =
                (0..4).map(|n| halves((0..len).map(|i| (i as f32 * 0.11 + n as f32).cos()))).collect();
            let four = dot_keys4(&q, [&k[0], &k[1], &k[2], &k[3]]);
            for n in 0..4 {
                assert_eq!(four[n].to_bits(), dot_key(&q, &k[n]).to_bits(), "len {len} key {n}");
                let widened: Vec<f32> = k[n].iter().map(|x| x.to_f32()).collect();
                assert_eq!(four[n].to_bits(), dot(&q, &widened).to_bits(), "len {len} key {n}");
            }
        }
    }

    #[test]
    fn weighted_values_in_registers_equal_the_plain_loop() {
        let positions = 37;
        let v = halves((0..positions * 64).map(|i| (i as f32 * 0.013).sin()));
        let p: Vec<f32> = (0..positions).map(|i| 1.0 / (1.0 + i as f32)).collect();
        let mut fast = [0f32; 64];
        weighted_values(&p, |pos| v[pos * 64..][..64].as_ptr(), &mut fast);
        let mut plain = [0f32; 64];
        for (pos, &p) in p.iter().enumerate() {
            for (o, x) in plain.iter_mut().zip(&v[pos * 64..(pos + 1) * 64]) {
                *o += p * x.to_f32();
            }
        }
        assert_eq!(fast.map(f32::to_bits), plain.map(f32::to_bits));
    }

    #[test]
    fn attention_over_one_position_returns_its_value() {
        let shape = AttentionShape { n_heads: 2, n_kv_heads: 1, head_dim: 4 };
        let k = halves([1.0, 0.0, 0.0, 0.0]);
        let v = halves([0.5, -1.0, 2.0, 3.0]);
        let mut out = [0f32; 4];
        attend_head(
            shape,
            &[1.0, 2.0, 3.0, 4.0],
            1,
            CacheView { k: &k, v: &v, len: 1 },
            &mut Vec::new(),
            &mut out,
        );
        assert_eq!(out, [0.5, -1.0, 2.0, 3.0]);
    }

    #[test]
    fn attention_weights_follow_softmax() {
        let shape = AttentionShape { n_heads: 1, n_kv_heads: 1, head_dim: 1 };
        // Scores 0 and ln(3) (scale 1 for dim 1): weights 1/4 and 3/4.
        let k = halves([0.0, 3f32.ln()]);
        let v = halves([4.0, 8.0]);
        let mut out = [0f32; 1];
        attend_head(shape, &[1.0], 0, CacheView { k: &k, v: &v, len: 2 }, &mut Vec::new(), &mut out);
        // ln(3) rounded to f16 moves the weights slightly.
        assert!((out[0] - 7.0).abs() < 2e-3, "{out:?}");
    }
}
