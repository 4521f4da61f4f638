//! Each format's sub-block integers in two AVX2 registers of sixteen i16 (elements 0..16 and
//! 16..32): the same values as [`Format::unpack`], for the AVX2 and AVX-512 kernels; and two
//! blocks' sub-blocks side by side in two AVX-512 registers, for the kernels that put one weight
//! row in each 256-bit half.
//!
//! The pair forms widen bytes straight into 512-bit registers (one shuffle-port instruction per
//! register) instead of widening each row and joining the halves: the join doubled the
//! shuffle-port work, which is what bounds the batch-1 decode loop.

use std::arch::x86_64::*;

use super::formats::{BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ6K, BlockQ8_0, Format};

/// A format the SIMD kernels can unpack.
pub trait Unpack: Format {
    /// Sub-block `s` as (elements 0..16, elements 16..32).
    ///
    /// # Safety
    /// The CPU has AVX2 (every build that compiles this module targets it).
    unsafe fn unpack256(&self, s: usize) -> (__m256i, __m256i);

    /// Sub-block `s` of `a` and of `b` side by side: (elements 0..16 of `a` then of `b`,
    /// elements 16..32 of `a` then of `b`). With `a == b`, one row in both halves.
    ///
    /// # Safety
    /// The CPU has AVX-512 BW.
    #[inline(always)]
    unsafe fn unpack_pair(a: &Self, b: &Self, s: usize) -> (__m512i, __m512i) {
        // SAFETY: the caller promises AVX-512 BW (which implies AVX2).
        unsafe { joined(a, b, s) }
    }

    /// Sub-block `s` in both 256-bit halves: `unpack_pair(self, self, s)`, for formats whose
    /// unpacking is cheaper done once and copied.
    ///
    /// # Safety
    /// The CPU has AVX-512 BW.
    #[inline(always)]
    unsafe fn unpack_twice(&self, s: usize) -> (__m512i, __m512i) {
        // SAFETY: the caller promises AVX-512 BW.
        unsafe { broadcast(self, s) }
    }

    /// For formats of one sub-block per block: the block's scale (low 16 bits) and minimum
    /// (high 16 bits, zero without one) as stored, f16.
    fn half_scales(&self) -> u32;
}

/// [`Unpack::unpack_pair`] for any format: each row unpacked, then the halves joined.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn joined<F: Unpack>(a: &F, b: &F, s: usize) -> (__m512i, __m512i) {
    // SAFETY: AVX-512 implies AVX2.
    let ((lo_a, hi_a), (lo_b, hi_b)) = unsafe { (a.unpack256(s), b.unpack256(s)) };
    let join = |x: __m256i, y: __m256i| _mm512_inserti64x4::<1>(_mm512_castsi256_si512(x), y);
    (join(lo_a, lo_b), join(hi_a, hi_b))
}

/// [`Unpack::unpack_twice`] for any format: one unpacking, copied to both halves.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn broadcast<F: Unpack>(a: &F, s: usize) -> (__m512i, __m512i) {
    // SAFETY: AVX-512 implies AVX2.
    let (lo, hi) = unsafe { a.unpack256(s) };
    (_mm512_broadcast_i64x4(lo), _mm512_broadcast_i64x4(hi))
}

/// Implements [`Unpack`] with functions enabled for AVX2 (and AVX-512 for the pair form).
macro_rules! unpack_with {
    ($block:ty, $f:ident, $halves:expr) => {
        unpack_with!(@impl $block, $f, $halves, );
    };
    ($block:ty, $f:ident, $halves:expr, $pair:ident) => {
        unpack_with!(@impl $block, $f, $halves,
            #[inline(always)]
            unsafe fn unpack_pair(a: &Self, b: &Self, s: usize) -> (__m512i, __m512i) {
                // SAFETY: the caller promises AVX-512 BW.
                unsafe { $pair(a, b, s) }
            }
            #[inline(always)]
            unsafe fn unpack_twice(&self, s: usize) -> (__m512i, __m512i) {
                // SAFETY: the caller promises AVX-512 BW.
                unsafe { $pair(self, self, s) }
            }
        );
    };
    (@impl $block:ty, $f:ident, $halves:expr, $($pair:tt)*) => {
        impl Unpack for $block {
            #[inline(always)]
            unsafe fn unpack256(&self, s: usize) -> (__m256i, __m256i) {
                // SAFETY: the caller promises AVX2.
                unsafe { $f(self, s) }
            }
            $($pair)*
            #[inline(always)]
            fn half_scales(&self) -> u32 {
                let halves: fn(&Self) -> u32 = $halves;
                halves(self)
            }
        }
    };
}

/// Blocks of several sub-blocks have a scale per sub-block, not one per block.
fn per_sub_block<F>(_: &F) -> u32 {
    unreachable!("a block of several sub-blocks has no single scale")
}

/// Sixteen bytes of `a` in the low 128 bits, sixteen of `b` in the high ones.
#[inline]
#[target_feature(enable = "avx2")]
fn two16<T: Copy>(a: &[T], b: &[T]) -> __m256i {
    const { assert!(size_of::<T>() == 1) };
    assert!(a.len() >= 16 && b.len() >= 16);
    // SAFETY: checked above.
    unsafe { _mm256_loadu2_m128i(b.as_ptr().cast(), a.as_ptr().cast()) }
}

/// Low nibbles of 32 bytes, widened to i16.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn low_nibbles(v: __m256i) -> __m512i {
    _mm512_cvtepu8_epi16(_mm256_and_si256(v, _mm256_set1_epi8(0x0F)))
}

/// The low and high 128-bit halves of 32 bytes, widened from u8 to i16.
#[inline]
#[target_feature(enable = "avx2")]
fn widen_u8(v: __m256i) -> (__m256i, __m256i) {
    (_mm256_cvtepu8_epi16(_mm256_castsi256_si128(v)), _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(v)))
}

/// As [`widen_u8`] for signed bytes.
#[inline]
#[target_feature(enable = "avx2")]
fn widen_i8(v: __m256i) -> (__m256i, __m256i) {
    (_mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)), _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(v)))
}

/// Sixteen packed bytes as 32 nibbles: low nibbles in the low half, high ones in the high half.
#[inline]
#[target_feature(enable = "avx2")]
fn nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: the array holds 16 readable bytes.
    let packed = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(packed), packed);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// 32 bytes from `p`.
#[inline]
#[target_feature(enable = "avx2")]
fn load32(p: &[u8]) -> __m256i {
    assert!(p.len() >= 32);
    // SAFETY: checked above.
    unsafe { _mm256_loadu_si256(p.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn q4_1(b: &BlockQ4_1, _: usize) -> (__m256i, __m256i) {
    widen_u8(nibbles(&b.qs))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn q4_1_pair(a: &BlockQ4_1, b: &BlockQ4_1, _: usize) -> (__m512i, __m512i) {
    let both = two16(&a.qs, &b.qs);
    (low_nibbles(both), low_nibbles(_mm256_srli_epi16::<4>(both)))
}
unpack_with!(BlockQ4_1, q4_1, |b| u32::from_le_bytes([b.d[0], b.d[1], b.m[0], b.m[1]]), q4_1_pair);

#[inline]
#[target_feature(enable = "avx2")]
fn q5_0(b: &BlockQ5_0, _: usize) -> (__m256i, __m256i) {
    // Byte `e` of a register gets byte `e / 8` of `qh`, then tests bit `e % 8` of it.
    let high = _mm256_set1_epi32(i32::from_le_bytes(b.qh));
    let select = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
    );
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(high, select), bit), bit);
    // q - 16: the nibble where bit 4 is set, the nibble - 16 (0xF0 | nibble) where it is not.
    let q = _mm256_or_si256(nibbles(&b.qs), _mm256_andnot_si256(set, _mm256_set1_epi8(0xF0_u8 as i8)));
    widen_i8(q)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn q5_0_pair(a: &BlockQ5_0, b: &BlockQ5_0, _: usize) -> (__m512i, __m512i) {
    let both = two16(&a.qs, &b.qs);
    let low = _mm256_set1_epi8(0x0F);
    let (first, second) = (_mm256_and_si256(both, low), _mm256_and_si256(_mm256_srli_epi16::<4>(both), low));
    // `qh` of `a` opens the low 128-bit lane, that of `b` the high one; each byte then picks
    // the `qh` byte of its element (elements 0..16: bytes 0 and 1; 16..32: bytes 2 and 3).
    let high = _mm256_setr_epi32(i32::from_le_bytes(a.qh), 0, 0, 0, i32::from_le_bytes(b.qh), 0, 0, 0);
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
    let minus_16 = |q: __m256i, first_byte: i8| {
        let (x, y) = (first_byte, first_byte + 1);
        let select = _mm256_setr_epi8(
            x, x, x, x, x, x, x, x, y, y, y, y, y, y, y, y, x, x, x, x, x, x, x, x, y, y, y, y, y, y, y, y,
        );
        let set = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(high, select), bit), bit);
        _mm256_or_si256(q, _mm256_andnot_si256(set, _mm256_set1_epi8(0xF0_u8 as i8)))
    };
    (_mm512_cvtepi8_epi16(minus_16(first, 0)), _mm512_cvtepi8_epi16(minus_16(second, 2)))
}
unpack_with!(BlockQ5_0, q5_0, |b| u32::from(u16::from_le_bytes(b.d)), q5_0_pair);

#[inline]
#[target_feature(enable = "avx2")]
fn q8_0(b: &BlockQ8_0, _: usize) -> (__m256i, __m256i) {
    // SAFETY: 32 readable bytes (an `[i8; 32]`).
    widen_i8(unsafe { _mm256_loadu_si256(b.qs.as_ptr().cast()) })
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn q8_0_pair(a: &BlockQ8_0, b: &BlockQ8_0, _: usize) -> (__m512i, __m512i) {
    (_mm512_cvtepi8_epi16(two16(&a.qs, &b.qs)), _mm512_cvtepi8_epi16(two16(&a.qs[16..], &b.qs[16..])))
}
unpack_with!(BlockQ8_0, q8_0, |b| u32::from(u16::from_le_bytes(b.d)), q8_0_pair);

#[inline]
#[target_feature(enable = "avx2")]
fn q4_k(b: &BlockQ4K, s: usize) -> (__m256i, __m256i) {
    let bytes = load32(&b.qs[32 * (s / 2)..]);
    let shifted = if s.is_multiple_of(2) { bytes } else { _mm256_srli_epi16::<4>(bytes) };
    widen_u8(_mm256_and_si256(shifted, _mm256_set1_epi8(0x0F)))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn q4_k_pair(a: &BlockQ4K, b: &BlockQ4K, s: usize) -> (__m512i, __m512i) {
    let (a, b) = (&a.qs[32 * (s / 2)..][..32], &b.qs[32 * (s / 2)..][..32]);
    let (lo, hi) = (two16(a, b), two16(&a[16..], &b[16..]));
    if s.is_multiple_of(2) {
        (low_nibbles(lo), low_nibbles(hi))
    } else {
        (low_nibbles(_mm256_srli_epi16::<4>(lo)), low_nibbles(_mm256_srli_epi16::<4>(hi)))
    }
}
unpack_with!(BlockQ4K, q4_k, per_sub_block, q4_k_pair);

#[inline]
#[target_feature(enable = "avx2")]
fn q6_k(b: &BlockQ6K, s: usize) -> (__m256i, __m256i) {
    let (n, g) = BlockQ6K::place(s);
    let ql = load32(&b.ql[64 * n + 32 * (g % 2)..]);
    let low = if g < 2 { ql } else { _mm256_srli_epi16::<4>(ql) };
    let low = _mm256_and_si256(low, _mm256_set1_epi8(0x0F));
    let qh = _mm256_srl_epi16(load32(&b.qh[32 * n..]), _mm_cvtsi32_si128(2 * g as i32));
    let high = _mm256_slli_epi16::<4>(_mm256_and_si256(qh, _mm256_set1_epi8(3)));
    let q = _mm256_sub_epi8(_mm256_or_si256(low, high), _mm256_set1_epi8(32));
    let (lo, hi) = widen_i8(q);
    let scale = &b.scales[8 * n + 2 * g..][..2];
    let (s0, s1) = (_mm256_set1_epi16(i16::from(scale[0])), _mm256_set1_epi16(i16::from(scale[1])));
    (_mm256_mullo_epi16(lo, s0), _mm256_mullo_epi16(hi, s1))
}
unpack_with!(BlockQ6K, q6_k, per_sub_block);
