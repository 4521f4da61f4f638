use super::dispatch::{self, Kernel, Rows};
use super::*;
use candle_core::{Device, Tensor};

const FORMATS: [GgmlDType; 5] =
    [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q8_0, GgmlDType::Q4K, GgmlDType::Q6K];

fn weights(n: usize, k: usize, dtype: GgmlDType) -> QTensor {
    let v: Vec<f32> = (0..n * k).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 0.3).collect();
    let t = Tensor::from_vec(v, (n, k), &Device::Cpu).expect("tensor");
    QTensor::quantize(&t, dtype).expect("quantize")
}

/// A matrix of arbitrary block bytes (every bit pattern of the integer parts, negative Q6_K
/// scales included), with sane f16 scales so that results stay finite.
fn random_matrix(n: usize, k: usize, dtype: GgmlDType) -> QMatrix {
    let kind = Kind::of(dtype).expect("kernel");
    let (values, size) = kind.block_shape();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut bytes: Vec<u8> = (0..n * k / values * size)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect();
    let scale_at: &[usize] = match kind {
        Kind::Q4_1 | Kind::Q4K => &[0, 2],
        Kind::Q5_0 | Kind::Q8_0 => &[0],
        Kind::Q6K => &[208],
    };
    for (b, block) in bytes.chunks_exact_mut(size).enumerate() {
        for (i, &at) in scale_at.iter().enumerate() {
            let d = half::f16::from_f32(0.001 + 0.0003 * ((b + i) % 7) as f32);
            block[at..at + 2].copy_from_slice(&d.to_le_bytes());
        }
    }
    QMatrix::from_bytes(Bytes::owned(bytes), dtype, n, k).expect("valid").expect("kernel")
}

fn input(m: usize, k: usize) -> Vec<f32> {
    (0..m * k).map(|i| ((i * 31 % 97) as f32 / 48.0 - 1.0) * 2.0).collect()
}

/// The scalar twin's value of every output.
fn scalar_reference(q: &QMatrix, acts: &[ActBlock], m: usize) -> Vec<f32> {
    fn run<F: Format>(w: &[F], q: &QMatrix, acts: &[ActBlock], m: usize) -> Vec<f32> {
        let bpr = q.k / BLOCK;
        let per_row = bpr / F::SUBS;
        let mut out = vec![0f32; m * q.n];
        for r in 0..m {
            let a = &acts[r * bpr..(r + 1) * bpr];
            for j in 0..q.n {
                out[r * q.n + j] = scalar::dot(&w[j * per_row..(j + 1) * per_row], a);
            }
        }
        out
    }
    with_blocks!(q, |w| run(w, q, acts, m))
}

/// Runs one fill strategy over all columns in uneven ranges, odd widths included, as the
/// parallel split can produce.
fn fill_with(q: &QMatrix, acts: &[ActBlock], m: usize, wide: bool) -> Vec<f32> {
    fn run<F: Kernel>(w: &[F], q: &QMatrix, rows: &Rows<'_>, wide: bool) -> Vec<f32> {
        let mut out = vec![0f32; rows.m * q.n];
        let outputs = Outputs::new(&mut out, rows.m, q.n);
        let mut j0 = 0;
        for width in [5, 1, 8, 3].iter().cycle() {
            if j0 >= q.n {
                break;
            }
            let range = j0..(j0 + width).min(q.n);
            j0 = range.end;
            // SAFETY: one thread, ranges within the matrix; the wide kernels only run when the
            // CPU has them.
            unsafe {
                if wide {
                    dispatch::fill_wide(w, range, &outputs, rows);
                } else {
                    dispatch::fill_baseline(w, range, &outputs, rows);
                }
            }
        }
        out
    }
    let bpr = q.k / BLOCK;
    let pairs = pair_rows(acts, m, bpr);
    let rows = Rows { acts, pairs: &pairs, m, bpr };
    with_blocks!(q, |w| run(w, q, &rows, wide))
}

fn assert_bits_eq(got: &[f32], want: &[f32], what: &str) {
    let (got, want): (Vec<u32>, Vec<u32>) =
        (got.iter().map(|v| v.to_bits()).collect(), want.iter().map(|v| v.to_bits()).collect());
    assert_eq!(got, want, "{what}");
}

fn check_every_path(q: &QMatrix, what: &str) {
    for m in 1..=11 {
        let acts = quantize_rows(&input(m, q.k), q.k);
        let want = scalar_reference(q, &acts, m);
        assert_bits_eq(&q.matmul_quantized(&acts, m), &want, &format!("{what} m={m} dispatched"));
        assert_bits_eq(&fill_with(q, &acts, m, false), &want, &format!("{what} m={m} baseline"));
        if wide_kernels() {
            assert_bits_eq(&fill_with(q, &acts, m, true), &want, &format!("{what} m={m} avx-512"));
        } else if m == 1 {
            eprintln!("this CPU has no AVX-512 VNNI: the wide kernels are not tested here");
        }
    }
}

#[test]
fn every_kernel_path_matches_the_scalar_twin_bit_for_bit() {
    for dtype in FORMATS {
        let q = QMatrix::from_qtensor(&weights(37, 512, dtype)).expect("matrix");
        check_every_path(&q, &format!("{dtype:?}"));
    }
}

#[test]
fn arbitrary_block_bytes_match_the_scalar_twin_bit_for_bit() {
    for dtype in FORMATS {
        check_every_path(&random_matrix(13, 512, dtype), &format!("random {dtype:?}"));
    }
}

#[cfg(x86_simd)]
#[test]
fn simd_unpacking_equals_the_scalar_one() {
    use super::unpack::Unpack;
    use std::arch::x86_64::*;
    fn check<F: Unpack>(w: &[F], what: GgmlDType) {
        for (b, block) in w.iter().enumerate() {
            for s in 0..F::SUBS {
                // SAFETY: x86_simd builds target AVX2.
                let (lo, hi) = unsafe { block.unpack256(s) };
                let mut got = [0i16; BLOCK];
                // SAFETY: `got` holds 32 i16.
                unsafe {
                    _mm256_storeu_si256(got.as_mut_ptr().cast(), lo);
                    _mm256_storeu_si256(got.as_mut_ptr().add(16).cast(), hi);
                }
                assert_eq!(got, block.unpack(s), "{what:?} block {b} sub-block {s}");
                if is_x86_feature_detected!("avx512bw") {
                    let other = &w[(b + 1) % w.len()];
                    // SAFETY: checked above.
                    let (pair, twice) = unsafe { (F::unpack_pair(block, other, s), block.unpack_twice(s)) };
                    assert_eq!(halves(pair), [block.unpack(s), other.unpack(s)], "{what:?} pair {b}/{s}");
                    assert_eq!(halves(twice), [block.unpack(s), block.unpack(s)], "{what:?} twice {b}/{s}");
                }
            }
        }
    }
    /// Elements 0..32 of the row in the low halves, then of the row in the high halves.
    fn halves((lo, hi): (__m512i, __m512i)) -> [[i16; BLOCK]; 2] {
        let (mut l, mut h) = ([0i16; BLOCK], [0i16; BLOCK]);
        // SAFETY: each array holds 32 i16; only called where AVX-512 is present.
        unsafe {
            _mm512_storeu_si512(l.as_mut_ptr().cast(), lo);
            _mm512_storeu_si512(h.as_mut_ptr().cast(), hi);
        }
        let row = |r: usize| std::array::from_fn(|e| if e < 16 { l[16 * r + e] } else { h[16 * r + e - 16] });
        [row(0), row(1)]
    }
    for dtype in FORMATS {
        let q = random_matrix(8, 512, dtype);
        with_blocks!(q, |w| check(w, dtype));
    }
}

#[test]
fn close_to_candle_reference() {
    for dtype in FORMATS {
        let qt = weights(64, 256, dtype);
        let x = input(4, 256);
        let ours = QMatrix::from_qtensor(&qt).expect("matrix").matmul(&x, 4);
        let dense = qt.dequantize(&Device::Cpu).expect("deq");
        // The kernel quantizes activations to 16 bits: compare with exactly those values.
        let xq: Vec<f32> = quantize_rows(&x, 256)
            .iter()
            .flat_map(|b| b.qs.iter().map(move |&q| b.d * f32::from(q)))
            .collect();
        let xt = Tensor::from_vec(xq, (4, 256), &Device::Cpu).expect("x");
        let reference: Vec<f32> =
            xt.matmul(&dense.t().expect("t")).expect("mm").flatten_all().expect("f").to_vec1().expect("v");
        for (a, b) in ours.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{dtype:?}: {a} vs {b}");
        }
    }
}

#[test]
fn batching_does_not_change_a_row() {
    for dtype in FORMATS {
        let q = QMatrix::from_qtensor(&weights(48, 256, dtype)).expect("matrix");
        let x = input(5, 256);
        let batched = q.matmul(&x, 5);
        for r in 0..5 {
            let alone = q.matmul(&x[r * 256..(r + 1) * 256], 1);
            assert_eq!(&batched[r * 48..(r + 1) * 48], &alone[..], "{dtype:?}");
        }
    }
}

#[test]
fn rows_dequantize_like_candle() {
    for dtype in FORMATS {
        let qt = weights(8, 256, dtype);
        let q = QMatrix::from_qtensor(&qt).expect("matrix");
        let dense: Vec<Vec<f32>> = qt.dequantize(&Device::Cpu).expect("deq").to_vec2().expect("v");
        let row = q.row(3);
        if matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q8_0) {
            assert_eq!(row, dense[3], "{dtype:?}");
        }
        for (a, b) in row.iter().zip(&dense[3]) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-3), "{dtype:?}: {a} vs {b}");
        }
    }
}
