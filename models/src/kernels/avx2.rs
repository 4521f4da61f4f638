//! AVX2 kernels (the x86-64-v3 baseline every build targets): `N` activation rows against one
//! weight row, each sub-block unpacked once for all of them.

use std::arch::x86_64::*;

use super::unpack::Unpack;
use super::{ActBlock, prefetch_ahead, reduce};

#[inline]
fn lanes(v: __m256) -> [f32; 8] {
    let mut out = [0f32; 8];
    // SAFETY: `out` has room for eight f32.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
    out
}

/// Multiplies 32 weights (as i16, elements 0..16 in `lo`, 16..32 in `hi`) with a block of
/// activations: eight i32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn block_dot(lo: __m256i, hi: __m256i, a: &ActBlock) -> __m256i {
    // SAFETY: the block holds 32 i16.
    let (a_lo, a_hi) = unsafe {
        (_mm256_loadu_si256(a.qs.as_ptr().cast()), _mm256_loadu_si256(a.qs.as_ptr().add(16).cast()))
    };
    _mm256_add_epi32(_mm256_madd_epi16(lo, a_lo), _mm256_madd_epi16(hi, a_hi))
}

/// `N` activation rows against one weight row; each result equals the scalar twin's.
#[target_feature(enable = "avx2,fma")]
pub fn dotn<F: Unpack, const N: usize>(w: &[F], a: [&[ActBlock]; N]) -> [f32; N] {
    let mut acc = [_mm256_setzero_ps(); N];
    let mut offset = [0f32; N];
    for (b, wb) in w.iter().enumerate() {
        let scales = wb.scales();
        for s in 0..F::SUBS {
            prefetch_ahead(wb, s);
            // SAFETY: this function runs with AVX2.
            let (lo, hi) = unsafe { wb.unpack256(s) };
            for r in 0..N {
                let ab = &a[r][b * F::SUBS + s];
                let sums = block_dot(lo, hi, ab);
                let scale = _mm256_set1_ps(scales.scale[s] * ab.d);
                acc[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sums), acc[r]);
                if F::HAS_MIN {
                    offset[r] = scales.min[s].mul_add(ab.s, offset[r]);
                }
            }
        }
    }
    std::array::from_fn(
        |r| if F::HAS_MIN { reduce(lanes(acc[r])) + offset[r] } else { reduce(lanes(acc[r])) },
    )
}
