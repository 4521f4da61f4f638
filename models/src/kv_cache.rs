//! One sequence's keys and values, per layer, in f16 and grown a page at a time: in host memory
//! for the CPU kernels, on the device for a [`crate::device_llama::DeviceLlama`].

use candle_core::{DType, Tensor};
use half::f16;
use half::slice::HalfFloatSliceExt;

use crate::Result;

/// The keys and values one sequence has produced so far, per layer, `[pos][kv_head][dim]`, in
/// f16 (as llama.cpp keeps them): half the memory of f32, read back exactly as stored.
#[derive(Debug, Default)]
pub struct KvCache {
    pub(crate) layers: Vec<(Vec<f16>, Vec<f16>)>,
    /// The same on a device, for a device model (empty otherwise).
    pub(crate) on_device: Vec<DeviceKv>,
    pub(crate) len: usize,
}

/// One layer's keys and values on a device: `(capacity, kv_dim)` f16 tensors, the first
/// `used` positions filled.
#[derive(Debug)]
pub(crate) struct DeviceKv {
    pub(crate) k: Tensor,
    pub(crate) v: Tensor,
    used: usize,
}

impl DeviceKv {
    /// Appends `(t, kv_dim)` f32 keys and values, growing the tensors a page at a time.
    pub(crate) fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<()> {
        let (t, width) = k.dims2()?;
        let needed = self.used + t;
        if needed > self.k.dim(0)? {
            let capacity = needed.div_ceil(KV_PAGE) * KV_PAGE;
            self.k = grow(&self.k, self.used, capacity, width)?;
            self.v = grow(&self.v, self.used, capacity, width)?;
        }
        self.k.slice_set(&k.to_dtype(DType::F16)?.contiguous()?, 0, self.used)?;
        self.v.slice_set(&v.to_dtype(DType::F16)?.contiguous()?, 0, self.used)?;
        self.used = needed;
        Ok(())
    }

    /// A copy of the first `len` positions (a fresh allocation: appends write in place).
    fn prefix(&self, len: usize) -> Result<Self> {
        let copy = |t: &Tensor| -> Result<Tensor> {
            let width = t.dim(1)?;
            grow(t, len, len.div_ceil(KV_PAGE).max(1) * KV_PAGE, width)
        };
        Ok(Self { k: copy(&self.k)?, v: copy(&self.v)?, used: len })
    }
}

/// A new `(capacity, width)` f16 tensor holding the first `used` rows of `t`.
fn grow(t: &Tensor, used: usize, capacity: usize, width: usize) -> Result<Tensor> {
    let bigger = Tensor::zeros((capacity, width), DType::F16, t.device())?;
    if used > 0 {
        bigger.slice_set(&t.narrow(0, 0, used)?.contiguous()?, 0, 0)?;
    }
    Ok(bigger)
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
        Self { layers: vec![(Vec::new(), Vec::new()); n_layers], on_device: Vec::new(), len: 0 }
    }

    /// An empty cache whose layers will live on a device (allocated at the first append).
    pub(crate) fn new_on_device(
        n_layers: usize,
        kv_dim: usize,
        device: &candle_core::Device,
    ) -> Result<Self> {
        let empty = || -> Result<DeviceKv> {
            let t = || Tensor::zeros((0, kv_dim), DType::F16, device);
            Ok(DeviceKv { k: t()?, v: t()?, used: 0 })
        };
        Ok(Self {
            layers: Vec::new(),
            on_device: (0..n_layers).map(|_| empty()).collect::<Result<_>>()?,
            len: 0,
        })
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
    /// Device caches are copied into fresh memory (appends write in place, so caches never share
    /// it); that copy can fail when the device is out of memory.
    pub fn prefix(&self, len: usize) -> Result<KvCache> {
        let len = len.min(self.len);
        let on_device = self.on_device.iter().map(|kv| kv.prefix(len)).collect::<Result<Vec<_>>>()?;
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| {
                let width = k.len() / self.len.max(1);
                (k[..len * width].to_vec(), v[..len * width].to_vec())
            })
            .collect();
        Ok(KvCache { layers, on_device, len })
    }

    /// Bytes held by the cache.
    pub fn memory_bytes(&self) -> usize {
        let host: usize = self.layers.iter().map(|(k, v)| (k.capacity() + v.capacity()) * 2).sum();
        let device: usize = self.on_device.iter().map(|kv| (kv.k.elem_count() + kv.v.elem_count()) * 2).sum();
        host + device
    }
}
