//! AVX-512 kernels, chosen at run time on CPUs with AVX-512 BW/VL and VNNI. They compute the
//! same integers, the same products and the same sums in the same order as the scalar twin:
//! only more of them per instruction.
//!
//! - [`dot_pairs_q4_1`]/[`dot_pairs_q8_0`]: one weight row against pairs of activation rows,
//!   one row of each pair in each 256-bit half of a register (batched decode and prefill).
//! - [`dot_cols_q4_1`]/[`dot_cols_q8_0`]: two weight rows against one activation row, one
//!   weight row in each half (decode at batch 1, and a batch's odd row).

use std::arch::x86_64::*;

use super::{ActBlock, BlockQ4_1, BlockQ8_0, PairBlock, prefetch_ahead, reduce};

/// The eight lanes of one half of `v`, summed in the fixed tree.
#[inline]
#[target_feature(enable = "avx512f")]
fn halves(v: __m512) -> [f32; 2] {
    let mut out = [0f32; 16];
    // SAFETY: `out` has room for sixteen f32.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) };
    let half = |h: usize| std::array::from_fn(|l| out[8 * h + l]);
    [reduce(half(0)), reduce(half(1))]
}

#[inline]
#[target_feature(enable = "sse")]
fn two(v: __m128) -> [f32; 2] {
    let mut out = [0f32; 4];
    // SAFETY: `out` has room for four f32.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), v) };
    [out[0], out[1]]
}

/// Q4_1 nibbles of one block widened to i16: elements 0..16 and 16..32.
#[inline]
#[target_feature(enable = "avx2")]
fn q4_1_i16(wb: &BlockQ4_1) -> (__m256i, __m256i) {
    let low = _mm_set1_epi8(0x0F);
    // SAFETY: the block holds 16 readable bytes.
    let packed = unsafe { _mm_loadu_si128(wb.qs.as_ptr().cast()) };
    let lo = _mm256_cvtepu8_epi16(_mm_and_si128(packed, low));
    let hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low));
    (lo, hi)
}

#[inline]
#[target_feature(enable = "avx2")]
fn q8_0_i16(wb: &BlockQ8_0) -> (__m256i, __m256i) {
    // SAFETY: the block holds 32 readable bytes.
    unsafe {
        (
            _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.qs.as_ptr().cast())),
            _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.qs.as_ptr().add(16).cast())),
        )
    }
}

/// The eight i32 lanes of a block for each half: `madd(lo) + madd(hi)` as in the scalar twin.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn block_sums(w_lo: __m512i, w_hi: __m512i, a_lo: __m512i, a_hi: __m512i) -> __m512 {
    _mm512_cvtepi32_ps(_mm512_dpwssd_epi32(_mm512_madd_epi16(w_lo, a_lo), w_hi, a_hi))
}

#[inline]
#[target_feature(enable = "avx512f")]
fn pair_acts(ab: &PairBlock) -> (__m512i, __m512i, __m512) {
    // SAFETY: a `PairBlock` is 64-byte aligned and its arrays are 64 bytes each.
    unsafe {
        (
            _mm512_load_si512(ab.lo.as_ptr().cast()),
            _mm512_load_si512(ab.hi.as_ptr().cast()),
            _mm512_load_ps(ab.d.as_ptr()),
        )
    }
}

#[inline]
#[target_feature(enable = "sse2")]
fn pair_sums(ab: &PairBlock) -> __m128 {
    // SAFETY: `s` holds two f32, read as one 64-bit value.
    _mm_castpd_ps(unsafe { _mm_load_sd(ab.s.as_ptr().cast()) })
}

/// One Q4_1 weight row against `P` pairs of activation rows: `out[p][i]` is row `i` of pair `p`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,fma")]
pub fn dot_pairs_q4_1<const P: usize>(w: &[BlockQ4_1], a: [&[PairBlock]; P]) -> [[f32; 2]; P] {
    let mut acc = [_mm512_setzero_ps(); P];
    let mut offset = [_mm_setzero_ps(); P];
    for (b, wb) in w.iter().enumerate() {
        prefetch_ahead(wb);
        let (lo, hi) = q4_1_i16(wb);
        let (w_lo, w_hi) = (_mm512_broadcast_i64x4(lo), _mm512_broadcast_i64x4(hi));
        let (d, m) = (_mm512_set1_ps(wb.d), _mm_set1_ps(wb.m));
        for p in 0..P {
            let ab = &a[p][b];
            let (a_lo, a_hi, a_d) = pair_acts(ab);
            let sums = block_sums(w_lo, w_hi, a_lo, a_hi);
            acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(d, a_d), sums, acc[p]);
            offset[p] = _mm_fmadd_ps(m, pair_sums(ab), offset[p]);
        }
    }
    std::array::from_fn(|p| {
        let (sums, offsets) = (halves(acc[p]), two(offset[p]));
        [sums[0] + offsets[0], sums[1] + offsets[1]]
    })
}

/// One Q8_0 weight row against `P` pairs of activation rows.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,fma")]
pub fn dot_pairs_q8_0<const P: usize>(w: &[BlockQ8_0], a: [&[PairBlock]; P]) -> [[f32; 2]; P] {
    let mut acc = [_mm512_setzero_ps(); P];
    for (b, wb) in w.iter().enumerate() {
        prefetch_ahead(wb);
        let (lo, hi) = q8_0_i16(wb);
        let (w_lo, w_hi) = (_mm512_broadcast_i64x4(lo), _mm512_broadcast_i64x4(hi));
        let d = _mm512_set1_ps(wb.d);
        for p in 0..P {
            let (a_lo, a_hi, a_d) = pair_acts(&a[p][b]);
            let sums = block_sums(w_lo, w_hi, a_lo, a_hi);
            acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(d, a_d), sums, acc[p]);
        }
    }
    std::array::from_fn(|p| halves(acc[p]))
}

/// One activation block, in both halves: elements 0..16 and 16..32.
#[inline]
#[target_feature(enable = "avx512f")]
fn act_both_halves(ab: &ActBlock) -> (__m512i, __m512i) {
    // SAFETY: the block holds 32 i16.
    unsafe {
        (
            _mm512_broadcast_i64x4(_mm256_loadu_si256(ab.qs.as_ptr().cast())),
            _mm512_broadcast_i64x4(_mm256_loadu_si256(ab.qs.as_ptr().add(16).cast())),
        )
    }
}

/// `a` in the low half, `b` in the high half.
#[inline]
#[target_feature(enable = "avx512f")]
fn side_by_side(a: __m256i, b: __m256i) -> __m512i {
    _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1)
}

/// `[x; 8] ++ [y; 8]`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn spread(x: f32, y: f32) -> __m512 {
    _mm512_insertf32x8(_mm512_set1_ps(x), _mm256_set1_ps(y), 1)
}

/// Two Q4_1 weight rows against one activation row.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma")]
pub fn dot_cols_q4_1(w0: &[BlockQ4_1], w1: &[BlockQ4_1], a: &[ActBlock]) -> [f32; 2] {
    let mut acc = _mm512_setzero_ps();
    let mut offset = _mm_setzero_ps();
    for ((b0, b1), ab) in w0.iter().zip(w1).zip(a) {
        prefetch_ahead(b0);
        let ((lo0, hi0), (lo1, hi1)) = (q4_1_i16(b0), q4_1_i16(b1));
        let (w_lo, w_hi) = (side_by_side(lo0, lo1), side_by_side(hi0, hi1));
        let (a_lo, a_hi) = act_both_halves(ab);
        let sums = block_sums(w_lo, w_hi, a_lo, a_hi);
        let scale = _mm512_mul_ps(spread(b0.d, b1.d), _mm512_set1_ps(ab.d));
        acc = _mm512_fmadd_ps(scale, sums, acc);
        offset = _mm_fmadd_ps(_mm_setr_ps(b0.m, b1.m, 0.0, 0.0), _mm_set1_ps(ab.s), offset);
    }
    let (sums, offsets) = (halves(acc), two(offset));
    [sums[0] + offsets[0], sums[1] + offsets[1]]
}

/// Two Q8_0 weight rows against one activation row.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma")]
pub fn dot_cols_q8_0(w0: &[BlockQ8_0], w1: &[BlockQ8_0], a: &[ActBlock]) -> [f32; 2] {
    let mut acc = _mm512_setzero_ps();
    for ((b0, b1), ab) in w0.iter().zip(w1).zip(a) {
        prefetch_ahead(b0);
        let ((lo0, hi0), (lo1, hi1)) = (q8_0_i16(b0), q8_0_i16(b1));
        let (w_lo, w_hi) = (side_by_side(lo0, lo1), side_by_side(hi0, hi1));
        let (a_lo, a_hi) = act_both_halves(ab);
        let sums = block_sums(w_lo, w_hi, a_lo, a_hi);
        let scale = _mm512_mul_ps(spread(b0.d, b1.d), _mm512_set1_ps(ab.d));
        acc = _mm512_fmadd_ps(scale, sums, acc);
    }
    halves(acc)
}
