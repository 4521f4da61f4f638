//! AVX2 kernels (the x86-64-v3 baseline every build targets).

use std::arch::x86_64::*;

use super::{ActBlock, BlockQ4_1, BlockQ8_0, prefetch_ahead, reduce};

#[inline]
unsafe fn lanes(v: __m256) -> [f32; 8] {
    let mut out = [0f32; 8];
    // SAFETY: `out` has room for eight f32.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
    out
}

/// Multiplies 32 weights (as i16, elements 0..16 in `lo`, 16..32 in `hi`) with a block of
/// activations: eight i32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn block_dot(lo: __m256i, hi: __m256i, a: &ActBlock) -> __m256i {
    // SAFETY: the block holds 32 i16.
    let (a_lo, a_hi) = unsafe {
        (_mm256_loadu_si256(a.qs.as_ptr().cast()), _mm256_loadu_si256(a.qs.as_ptr().add(16).cast()))
    };
    _mm256_add_epi32(_mm256_madd_epi16(lo, a_lo), _mm256_madd_epi16(hi, a_hi))
}

#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_q4_1(w: &[BlockQ4_1], a: &[ActBlock]) -> f32 {
    let low = _mm_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut offset = 0f32;
    for (wb, ab) in w.iter().zip(a) {
        prefetch_ahead(wb);
        // SAFETY: the block holds 16 readable bytes.
        let packed = unsafe { _mm_loadu_si128(wb.qs.as_ptr().cast()) };
        let lo = _mm256_cvtepu8_epi16(_mm_and_si128(packed, low));
        let hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low));
        // SAFETY: same target features.
        let sums = unsafe { block_dot(lo, hi, ab) };
        acc = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * ab.d), _mm256_cvtepi32_ps(sums), acc);
        offset = wb.m.mul_add(ab.s, offset);
    }
    // SAFETY: plain register store.
    reduce(unsafe { lanes(acc) }) + offset
}

/// `N` activation rows against one Q4_1 weight row; each result equals [`dot_q4_1`]'s.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dotn_q4_1<const N: usize>(w: &[BlockQ4_1], a: [&[ActBlock]; N]) -> [f32; N] {
    let low = _mm_set1_epi8(0x0F);
    let mut acc = [_mm256_setzero_ps(); N];
    let mut offset = [0f32; N];
    for (b, wb) in w.iter().enumerate() {
        prefetch_ahead(wb);
        // SAFETY: the block holds 16 readable bytes.
        let packed = unsafe { _mm_loadu_si128(wb.qs.as_ptr().cast()) };
        let lo = _mm256_cvtepu8_epi16(_mm_and_si128(packed, low));
        let hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low));
        for r in 0..N {
            let ab = &a[r][b];
            // SAFETY: same target features.
            let sums = unsafe { block_dot(lo, hi, ab) };
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * ab.d), _mm256_cvtepi32_ps(sums), acc[r]);
            offset[r] = wb.m.mul_add(ab.s, offset[r]);
        }
    }
    // SAFETY: plain register stores.
    std::array::from_fn(|r| reduce(unsafe { lanes(acc[r]) }) + offset[r])
}

/// `N` activation rows against one Q8_0 weight row; each result equals [`dot_q8_0`]'s.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dotn_q8_0<const N: usize>(w: &[BlockQ8_0], a: [&[ActBlock]; N]) -> [f32; N] {
    let mut acc = [_mm256_setzero_ps(); N];
    for (b, wb) in w.iter().enumerate() {
        prefetch_ahead(wb);
        // SAFETY: the block holds 32 readable bytes.
        let (lo, hi) = unsafe {
            (
                _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.qs.as_ptr().cast())),
                _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.qs.as_ptr().add(16).cast())),
            )
        };
        for r in 0..N {
            let ab = &a[r][b];
            // SAFETY: same target features.
            let sums = unsafe { block_dot(lo, hi, ab) };
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * ab.d), _mm256_cvtepi32_ps(sums), acc[r]);
        }
    }
    // SAFETY: plain register stores.
    std::array::from_fn(|r| reduce(unsafe { lanes(acc[r]) }))
}

#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_q8_0(w: &[BlockQ8_0], a: &[ActBlock]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (wb, ab) in w.iter().zip(a) {
        prefetch_ahead(wb);
        // SAFETY: the block holds 32 readable bytes.
        let (lo, hi) = unsafe {
            (
                _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.qs.as_ptr().cast())),
                _mm256_cvtepi8_epi16(_mm_loadu_si128(wb.qs.as_ptr().add(16).cast())),
            )
        };
        // SAFETY: same target features.
        let sums = unsafe { block_dot(lo, hi, ab) };
        acc = _mm256_fmadd_ps(_mm256_set1_ps(wb.d * ab.d), _mm256_cvtepi32_ps(sums), acc);
    }
    // SAFETY: plain register store.
    reduce(unsafe { lanes(acc) })
}
