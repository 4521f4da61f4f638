//! Each format's sub-block integers in two AVX2 registers of sixteen i16 (elements 0..16 and
//! 16..32): the same values as [`Format::unpack`], for the AVX2 and AVX-512 kernels.

use std::arch::x86_64::*;

use super::formats::{BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ6K, BlockQ8_0, Format};

/// A format the SIMD kernels can unpack.
pub trait Unpack: Format {
    /// Sub-block `s` as (elements 0..16, elements 16..32).
    ///
    /// # Safety
    /// The CPU has AVX2 (every build that compiles this module targets it).
    unsafe fn unpack256(&self, s: usize) -> (__m256i, __m256i);
}

/// Implements [`Unpack`] with a function enabled for AVX2.
macro_rules! unpack_with {
    ($block:ty, $f:ident) => {
        impl Unpack for $block {
            #[inline(always)]
            unsafe fn unpack256(&self, s: usize) -> (__m256i, __m256i) {
                // SAFETY: the caller promises AVX2.
                unsafe { $f(self, s) }
            }
        }
    };
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
unpack_with!(BlockQ4_1, q4_1);

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
unpack_with!(BlockQ5_0, q5_0);

#[inline]
#[target_feature(enable = "avx2")]
fn q8_0(b: &BlockQ8_0, _: usize) -> (__m256i, __m256i) {
    // SAFETY: 32 readable bytes (an `[i8; 32]`).
    widen_i8(unsafe { _mm256_loadu_si256(b.qs.as_ptr().cast()) })
}
unpack_with!(BlockQ8_0, q8_0);

#[inline]
#[target_feature(enable = "avx2")]
fn q4_k(b: &BlockQ4K, s: usize) -> (__m256i, __m256i) {
    let bytes = load32(&b.qs[32 * (s / 2)..]);
    let shifted = if s.is_multiple_of(2) { bytes } else { _mm256_srli_epi16::<4>(bytes) };
    widen_u8(_mm256_and_si256(shifted, _mm256_set1_epi8(0x0F)))
}
unpack_with!(BlockQ4K, q4_k);

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
unpack_with!(BlockQ6K, q6_k);
