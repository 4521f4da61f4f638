//! The reference implementation; the SIMD ones must match it bit for bit.

use super::{ActBlock, BLOCK, BlockQ4_1, BlockQ8_0, reduce};

fn lanes(prod: impl Fn(usize) -> i32) -> [i32; 8] {
    let mut out = [0i32; 8];
    for (l, lane) in out.iter_mut().enumerate() {
        *lane = prod(2 * l) + prod(2 * l + 1) + prod(16 + 2 * l) + prod(17 + 2 * l);
    }
    out
}

pub fn dot_q4_1(w: &[BlockQ4_1], a: &[ActBlock]) -> f32 {
    let mut acc = [0f32; 8];
    let mut offset = 0f32;
    for (wb, ab) in w.iter().zip(a) {
        let q = |e: usize| if e < BLOCK / 2 { wb.qs[e] & 0xF } else { wb.qs[e - BLOCK / 2] >> 4 };
        let sums = lanes(|e| i32::from(q(e)) * i32::from(ab.qs[e]));
        let scale = wb.d * ab.d;
        for (acc, s) in acc.iter_mut().zip(sums) {
            *acc = scale.mul_add(s as f32, *acc);
        }
        offset = wb.m.mul_add(ab.s, offset);
    }
    reduce(acc) + offset
}

pub fn dot_q8_0(w: &[BlockQ8_0], a: &[ActBlock]) -> f32 {
    let mut acc = [0f32; 8];
    for (wb, ab) in w.iter().zip(a) {
        let sums = lanes(|e| i32::from(wb.qs[e]) * i32::from(ab.qs[e]));
        let scale = wb.d * ab.d;
        for (acc, s) in acc.iter_mut().zip(sums) {
            *acc = scale.mul_add(s as f32, *acc);
        }
    }
    reduce(acc)
}
