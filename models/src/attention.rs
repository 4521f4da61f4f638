//! Fixed-order numeric kernels of the llama forward pass: dot products, RMS norm and causal
//! attention over one sequence's KV cache.
//!
//! Each result depends only on its own inputs, never on how many rows, sequences or threads a
//! call covers: reductions use eight independent lanes summed in one fixed tree, so the compiler
//! may vectorise them but cannot reorder them. That is what makes outputs batch-invariant.

const LANES: usize = 8;

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
    scores.clear();
    let mut max = f32::NEG_INFINITY;
    for pos in 0..len {
        let k = &k_cache[pos * kv_dim + kv_head * hd..][..hd];
        let s = dot(q, k) * scale;
        max = max.max(s);
        scores.push(s);
    }
    let mut total = 0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        total += *s;
    }
    out.fill(0.0);
    for (pos, &p) in scores.iter().enumerate() {
        let v = &v_cache[pos * kv_dim + kv_head * hd..][..hd];
        for (o, &x) in out.iter_mut().zip(v) {
            *o += p * x;
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
