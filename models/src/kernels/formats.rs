//! The GGUF weight formats the kernels read in place, byte for byte as the file stores them, and
//! how each one unpacks into the kernels' common form: 32-value sub-blocks of small integers
//! (i16) with one float scale, and for the formats with a minimum, one float offset:
//! `w[e] = scale * q[e] + min`.
//!
//! Every field is a byte array, so the blocks have alignment 1 and any byte range of a mapped
//! file whose length is a multiple of the block size is a valid slice of blocks.
//!
//! Q6_K's scales cover 16 values, not 32: its sub-block integers carry the 8-bit scale already
//! (`scale_16 * (q - 32)`, at most 4096 in magnitude), and the float scale is the block's `d`.

use half::f16;

use super::BLOCK;

/// The most sub-blocks a block holds (the K formats' 256 values).
pub const MAX_SUBS: usize = 8;

/// Per-sub-block float scales and offsets of one block.
#[derive(Debug, Clone, Copy)]
pub struct Scales {
    pub scale: [f32; MAX_SUBS],
    pub min: [f32; MAX_SUBS],
}

/// A block format of GGUF weights.
///
/// # Safety
/// Implementors are `repr(C)` structs of byte arrays: alignment 1, no padding, every bit
/// pattern valid (so [`as_blocks`] may reinterpret file bytes as blocks).
pub unsafe trait Format: Copy + Send + Sync + 'static {
    /// 32-value sub-blocks per block.
    const SUBS: usize;
    /// Whether the weights carry an offset (`min`) besides the scale.
    const HAS_MIN: bool;
    /// The scale (and offset) of every sub-block.
    fn scales(&self) -> Scales;
    /// The integers of sub-block `s`, in element order.
    fn unpack(&self, s: usize) -> [i16; BLOCK];
}

fn half(b: [u8; 2]) -> f32 {
    f16::from_bits(u16::from_le_bytes(b)).to_f32()
}

fn one(scale: f32, min: f32) -> Scales {
    let mut out = Scales { scale: [0.0; MAX_SUBS], min: [0.0; MAX_SUBS] };
    out.scale[0] = scale;
    out.min[0] = min;
    out
}

/// Q4_1: `w = d * q + m`, `q` in 0..16; element `j` in the low nibble of byte `j`, element
/// `j + 16` in its high nibble.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct BlockQ4_1 {
    pub d: [u8; 2],
    pub m: [u8; 2],
    pub qs: [u8; 16],
}

/// Q5_0: `w = d * (q - 16)`, `q` in 0..32: low four bits as in Q4_1, bit 4 of element `j` in
/// bit `j` of the little-endian `qh`.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct BlockQ5_0 {
    pub d: [u8; 2],
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

/// Q8_0: `w = d * q`.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct BlockQ8_0 {
    pub d: [u8; 2],
    pub qs: [i8; BLOCK],
}

/// Q4_K: 256 values in eight sub-blocks of 32, `w = d * sc[s] * q - dmin * m[s]` with 6-bit
/// `sc` and `m` packed in `scales`; sub-blocks `2c` and `2c + 1` are the low and high nibbles
/// of bytes `32c..32c + 32`.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct BlockQ4K {
    pub d: [u8; 2],
    pub dmin: [u8; 2],
    pub scales: [u8; 12],
    pub qs: [u8; 128],
}

/// Q6_K: 256 values, `w = d * sc[i / 16] * (q - 32)`, `q` six bits: four from `ql`, two from
/// `qh`, in two halves of 128 values (see [`BlockQ6K::unpack`]).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct BlockQ6K {
    pub ql: [u8; 128],
    pub qh: [u8; 64],
    pub scales: [i8; 16],
    pub d: [u8; 2],
}

const _: () = {
    assert!(size_of::<BlockQ4_1>() == 20 && align_of::<BlockQ4_1>() == 1);
    assert!(size_of::<BlockQ5_0>() == 22 && align_of::<BlockQ5_0>() == 1);
    assert!(size_of::<BlockQ8_0>() == 34 && align_of::<BlockQ8_0>() == 1);
    assert!(size_of::<BlockQ4K>() == 144 && align_of::<BlockQ4K>() == 1);
    assert!(size_of::<BlockQ6K>() == 210 && align_of::<BlockQ6K>() == 1);
};

/// Element `e` of a 32-value block stored as nibbles: low nibbles first, then high ones.
fn nibble(qs: &[u8; 16], e: usize) -> u8 {
    if e < 16 { qs[e] & 0xF } else { qs[e - 16] >> 4 }
}

// SAFETY: a `repr(C)` struct of byte arrays (sizes asserted above).
unsafe impl Format for BlockQ4_1 {
    const SUBS: usize = 1;
    const HAS_MIN: bool = true;

    fn scales(&self) -> Scales {
        one(half(self.d), half(self.m))
    }

    fn unpack(&self, _: usize) -> [i16; BLOCK] {
        std::array::from_fn(|e| i16::from(nibble(&self.qs, e)))
    }
}

// SAFETY: a `repr(C)` struct of byte arrays (sizes asserted above).
unsafe impl Format for BlockQ5_0 {
    const SUBS: usize = 1;
    const HAS_MIN: bool = false;

    fn scales(&self) -> Scales {
        one(half(self.d), 0.0)
    }

    fn unpack(&self, _: usize) -> [i16; BLOCK] {
        let high = u32::from_le_bytes(self.qh);
        std::array::from_fn(|e| {
            let bit = ((high >> e) & 1) as u8;
            i16::from(nibble(&self.qs, e) | (bit << 4)) - 16
        })
    }
}

// SAFETY: a `repr(C)` struct of byte arrays (sizes asserted above).
unsafe impl Format for BlockQ8_0 {
    const SUBS: usize = 1;
    const HAS_MIN: bool = false;

    fn scales(&self) -> Scales {
        one(half(self.d), 0.0)
    }

    fn unpack(&self, _: usize) -> [i16; BLOCK] {
        self.qs.map(i16::from)
    }
}

impl BlockQ4K {
    /// The 6-bit scale and minimum of sub-block `s`.
    pub fn scale_min(&self, s: usize) -> (u8, u8) {
        let q = &self.scales;
        if s < 4 {
            (q[s] & 63, q[s + 4] & 63)
        } else {
            ((q[s + 4] & 0xF) | ((q[s - 4] >> 6) << 4), (q[s + 4] >> 4) | ((q[s] >> 6) << 4))
        }
    }
}

// SAFETY: a `repr(C)` struct of byte arrays (sizes asserted above).
unsafe impl Format for BlockQ4K {
    const SUBS: usize = 8;
    const HAS_MIN: bool = true;

    fn scales(&self) -> Scales {
        let (d, dmin) = (half(self.d), half(self.dmin));
        let mut out = Scales { scale: [0.0; MAX_SUBS], min: [0.0; MAX_SUBS] };
        for s in 0..Self::SUBS {
            let (sc, m) = self.scale_min(s);
            out.scale[s] = d * f32::from(sc);
            out.min[s] = -(dmin * f32::from(m));
        }
        out
    }

    fn unpack(&self, s: usize) -> [i16; BLOCK] {
        let bytes = &self.qs[32 * (s / 2)..][..BLOCK];
        std::array::from_fn(|e| i16::from(if s.is_multiple_of(2) { bytes[e] & 0xF } else { bytes[e] >> 4 }))
    }
}

impl BlockQ6K {
    /// Where sub-block `s` lives: its half (128 values), and its group of 32 within the half.
    pub fn place(s: usize) -> (usize, usize) {
        (s / 4, s % 4)
    }
}

// SAFETY: a `repr(C)` struct of byte arrays (sizes asserted above).
unsafe impl Format for BlockQ6K {
    const SUBS: usize = 8;
    const HAS_MIN: bool = false;

    fn scales(&self) -> Scales {
        let mut out = Scales { scale: [0.0; MAX_SUBS], min: [0.0; MAX_SUBS] };
        out.scale = [half(self.d); MAX_SUBS];
        out
    }

    /// Group `g` of half `n`: low bits from `ql[64n + 32(g % 2)..]` (low nibbles for `g < 2`,
    /// high ones after), high bits `2g..2g + 2` of `qh[32n..]`; the first 16 values scaled by
    /// `scales[8n + 2g]`, the next 16 by `scales[8n + 2g + 1]`.
    fn unpack(&self, s: usize) -> [i16; BLOCK] {
        let (n, g) = Self::place(s);
        let ql = &self.ql[64 * n + 32 * (g % 2)..][..BLOCK];
        let qh = &self.qh[32 * n..][..BLOCK];
        std::array::from_fn(|e| {
            let low = if g < 2 { ql[e] & 0xF } else { ql[e] >> 4 };
            let q = i16::from(low | (((qh[e] >> (2 * g)) & 3) << 4)) - 32;
            q * i16::from(self.scales[8 * n + 2 * g + e / 16])
        })
    }
}

/// Reinterprets bytes as blocks.
///
/// # Panics
/// When the length is not a whole number of blocks.
pub fn as_blocks<F: Format>(bytes: &[u8]) -> &[F] {
    assert!(bytes.len().is_multiple_of(size_of::<F>()), "{} bytes are not whole blocks", bytes.len());
    // SAFETY: `Format` promises alignment 1 and no invalid bit patterns; the length is a whole
    // number of blocks.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<F>(), bytes.len() / size_of::<F>()) }
}
