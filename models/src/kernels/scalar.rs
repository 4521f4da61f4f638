//! The reference implementation; the SIMD ones must match it bit for bit.

use super::formats::Format;
use super::{ActBlock, reduce};

fn lanes(prod: impl Fn(usize) -> i32) -> [i32; 8] {
    let mut out = [0i32; 8];
    for (l, lane) in out.iter_mut().enumerate() {
        *lane = prod(2 * l) + prod(2 * l + 1) + prod(16 + 2 * l) + prod(17 + 2 * l);
    }
    out
}

/// One weight row against one activation row: per 32-value sub-block, in order, the exact
/// integer dot in eight lanes scaled into eight float accumulators (and the offset term into
/// its own), then the fixed tree.
pub fn dot<F: Format>(w: &[F], a: &[ActBlock]) -> f32 {
    let mut acc = [0f32; 8];
    let mut offset = 0f32;
    for (b, wb) in w.iter().enumerate() {
        let scales = wb.scales();
        for s in 0..F::SUBS {
            let ab = &a[b * F::SUBS + s];
            let q = wb.unpack(s);
            let sums = lanes(|e| i32::from(q[e]) * i32::from(ab.qs[e]));
            let scale = scales.scale[s] * ab.d;
            for (acc, x) in acc.iter_mut().zip(sums) {
                *acc = scale.mul_add(x as f32, *acc);
            }
            if F::HAS_MIN {
                offset = scales.min[s].mul_add(ab.s, offset);
            }
        }
    }
    if F::HAS_MIN { reduce(acc) + offset } else { reduce(acc) }
}
