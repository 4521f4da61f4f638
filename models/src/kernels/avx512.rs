//! AVX-512 kernels, chosen at run time on CPUs with AVX-512 BW/VL and VNNI. They compute the
//! same integers, the same products and the same sums in the same order as the scalar twin:
//! only more of them per instruction.
//!
//! - [`dot_pairs`]: one weight row against pairs of activation rows, one row of each pair in
//!   each 256-bit half of a register (batched decode and prefill).
//! - [`dot_cols`]: two weight rows against one activation row, one weight row in each half
//!   (decode at batch 1, and a batch's odd row).

use std::arch::x86_64::*;

use super::unpack::Unpack;
use super::{ActBlock, PairBlock, prefetch_ahead, reduce};

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

/// Both halves' sums, plus both offsets when the format has them.
#[inline]
#[target_feature(enable = "avx512f")]
fn finish<F: Unpack>(acc: __m512, offset: __m128) -> [f32; 2] {
    let sums = halves(acc);
    if F::HAS_MIN {
        let offsets = two(offset);
        [sums[0] + offsets[0], sums[1] + offsets[1]]
    } else {
        sums
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

/// One weight row against `P` pairs of activation rows: `out[p][i]` is row `i` of pair `p`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,fma")]
pub fn dot_pairs<F: Unpack, const P: usize>(w: &[F], a: [&[PairBlock]; P]) -> [[f32; 2]; P] {
    let mut acc = [_mm512_setzero_ps(); P];
    let mut offset = [_mm_setzero_ps(); P];
    // Checked once here instead of per block and pair (the checks cost more than the blocks'
    // own shuffles at small batch).
    let blocks = w.len() * F::SUBS;
    assert!(a.iter().all(|row| row.len() >= blocks), "activation rows shorter than the weights");
    for (b, wb) in w.iter().enumerate() {
        let scales = wb.scales();
        for s in 0..F::SUBS {
            prefetch_ahead(wb, s);
            // SAFETY: this function runs with AVX-512 BW.
            let (w_lo, w_hi) = unsafe { wb.unpack_twice(s) };
            let (d, m) = (_mm512_set1_ps(scales.scale[s]), _mm_set1_ps(scales.min[s]));
            for p in 0..P {
                // SAFETY: `b * SUBS + s < blocks <= a[p].len()`, asserted above.
                let ab = unsafe { a[p].get_unchecked(b * F::SUBS + s) };
                let (a_lo, a_hi, a_d) = pair_acts(ab);
                let sums = block_sums(w_lo, w_hi, a_lo, a_hi);
                acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(d, a_d), sums, acc[p]);
                if F::HAS_MIN {
                    offset[p] = _mm_fmadd_ps(m, pair_sums(ab), offset[p]);
                }
            }
        }
    }
    std::array::from_fn(|p| finish::<F>(acc[p], offset[p]))
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

/// `[x; 8] ++ [y; 8]`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn spread(x: f32, y: f32) -> __m512 {
    _mm512_insertf32x8(_mm512_set1_ps(x), _mm256_set1_ps(y), 1)
}

/// Two weight rows against one activation row.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma,f16c")]
pub fn dot_cols<F: Unpack>(w0: &[F], w1: &[F], a: &[ActBlock]) -> [f32; 2] {
    if F::SUBS == 1 {
        return dot_cols_small(w0, w1, a);
    }
    let mut acc = _mm512_setzero_ps();
    let mut offset = _mm_setzero_ps();
    for ((b0, b1), acts) in w0.iter().zip(w1).zip(a.chunks_exact(F::SUBS)) {
        let (s0, s1) = (b0.scales(), b1.scales());
        for (s, ab) in acts.iter().enumerate() {
            prefetch_ahead(b0, s);
            // SAFETY: this function runs with AVX-512 BW.
            let (w_lo, w_hi) = unsafe { F::unpack_pair(b0, b1, s) };
            let (a_lo, a_hi) = act_both_halves(ab);
            let sums = block_sums(w_lo, w_hi, a_lo, a_hi);
            let scale = _mm512_mul_ps(spread(s0.scale[s], s1.scale[s]), _mm512_set1_ps(ab.d));
            acc = _mm512_fmadd_ps(scale, sums, acc);
            if F::HAS_MIN {
                let mins = _mm_setr_ps(s0.min[s], s1.min[s], 0.0, 0.0);
                offset = _mm_fmadd_ps(mins, _mm_set1_ps(ab.s), offset);
            }
        }
    }
    finish::<F>(acc, offset)
}

/// [`dot_cols`] for formats of one sub-block per block, whose per-block work is small enough
/// that reading the f16 scales one by one dominated it: both rows' scale and minimum are
/// converted in one instruction, `[d0, m0, d1, m1]`, and the offsets accumulate in those same
/// lanes (1 and 3, moved to 0 and 1 for [`finish`]). The same products and sums as the general
/// form, lane for lane.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma,f16c")]
fn dot_cols_small<F: Unpack>(w0: &[F], w1: &[F], a: &[ActBlock]) -> [f32; 2] {
    let d_of_each_row = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
    let mut acc = _mm512_setzero_ps();
    let mut offset = _mm_setzero_ps();
    for ((b0, b1), ab) in w0.iter().zip(w1).zip(a) {
        prefetch_ahead(b0, 0);
        // SAFETY: this function runs with AVX-512 BW.
        let (w_lo, w_hi) = unsafe { F::unpack_pair(b0, b1, 0) };
        let (a_lo, a_hi) = act_both_halves(ab);
        let sums = block_sums(w_lo, w_hi, a_lo, a_hi);
        let stored = _mm_set_epi32(0, 0, b1.half_scales() as i32, b0.half_scales() as i32);
        let dm = _mm_cvtph_ps(stored);
        let d = _mm512_permutexvar_ps(d_of_each_row, _mm512_castps128_ps512(dm));
        acc = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(ab.d)), sums, acc);
        if F::HAS_MIN {
            offset = _mm_fmadd_ps(dm, _mm_set1_ps(ab.s), offset);
        }
    }
    // Lanes 1 and 3 (the minimums' products) to lanes 0 and 1.
    finish::<F>(acc, _mm_shuffle_ps::<0b11_01>(offset, offset))
}
