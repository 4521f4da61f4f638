//! One sequence's keys and values, per layer, in f16 and grown a page at a time.

use half::f16;
use half::slice::HalfFloatSliceExt;

/// The keys and values one sequence has produced so far, per layer, `[pos][kv_head][dim]`, in
/// f16 (as llama.cpp keeps them): half the memory of f32, read back exactly as stored.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    pub(crate) layers: Vec<(Vec<f16>, Vec<f16>)>,
    pub(crate) len: usize,
}

/// Positions a cache grows by: exact pages instead of doubling, so eight 2k-token sequences do
/// not hold room for 4k each.
const KV_PAGE: usize = 128;

/// Appends rows to a cache layer, growing it a page at a time.
pub(crate) fn append_f16(cache: &mut Vec<f16>, rows: &[f32], row_width: usize) {
    let needed = cache.len() + rows.len();
    if needed > cache.capacity() {
        let positions = needed / row_width;
        let target = positions.div_ceil(KV_PAGE) * KV_PAGE * row_width;
        cache.reserve_exact(target - cache.len());
    }
    let start = cache.len();
    cache.resize(needed, f16::ZERO);
    cache[start..].convert_from_f32_slice(rows);
}

impl KvCache {
    /// An empty cache for a model of `n_layers` layers.
    pub(crate) fn new(n_layers: usize) -> Self {
        Self { layers: vec![(Vec::new(), Vec::new()); n_layers], len: 0 }
    }

    /// Number of positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first forward pass.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A copy of the first `len` positions: a position's keys and values depend only on the
    /// tokens up to it, so another sequence with the same first `len` tokens can start from it
    /// and get bit-identical results.
    pub fn prefix(&self, len: usize) -> KvCache {
        let len = len.min(self.len);
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| {
                let width = k.len() / self.len.max(1);
                (k[..len * width].to_vec(), v[..len * width].to_vec())
            })
            .collect();
        KvCache { layers, len }
    }

    /// Bytes held by the cache.
    pub fn memory_bytes(&self) -> usize {
        self.layers.iter().map(|(k, v)| (k.capacity() + v.capacity()) * 2).sum()
    }
}
