use super::dispatch::{self, Rows};
use super::*;
use candle_core::{Device, Tensor};

fn weights(n: usize, k: usize, dtype: GgmlDType) -> QTensor {
    let v: Vec<f32> = (0..n * k).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 0.3).collect();
    let t = Tensor::from_vec(v, (n, k), &Device::Cpu).expect("tensor");
    QTensor::quantize(&t, dtype).expect("quantize")
}

fn input(m: usize, k: usize) -> Vec<f32> {
    (0..m * k).map(|i| ((i * 31 % 97) as f32 / 48.0 - 1.0) * 2.0).collect()
}

/// The scalar twin's value of every output.
fn scalar_reference(q: &QMatrix, acts: &[ActBlock], m: usize) -> Vec<f32> {
    let bpr = q.k / BLOCK;
    let mut out = vec![0f32; m * q.n];
    for r in 0..m {
        let a = &acts[r * bpr..(r + 1) * bpr];
        for j in 0..q.n {
            out[r * q.n + j] = match &q.weights {
                Weights::Q4_1(w) => scalar::dot_q4_1(&w[j * bpr..(j + 1) * bpr], a),
                Weights::Q8_0(w) => scalar::dot_q8_0(&w[j * bpr..(j + 1) * bpr], a),
            };
        }
    }
    out
}

type Fill<B> = unsafe fn(&[B], std::ops::Range<usize>, &Outputs, &Rows<'_>);

/// Runs one fill function over all columns in uneven ranges, odd widths included, as the
/// parallel split can produce.
fn fill_with(
    q: &QMatrix,
    acts: &[ActBlock],
    m: usize,
    fill: Fill<BlockQ4_1>,
    fill8: Fill<BlockQ8_0>,
) -> Vec<f32> {
    let bpr = q.k / BLOCK;
    let pairs = pair_rows(acts, m, bpr);
    let rows = Rows { acts, pairs: &pairs, m, bpr };
    let mut out = vec![0f32; m * q.n];
    let outputs = Outputs::new(&mut out, m, q.n);
    let mut j0 = 0;
    for width in [5, 1, 8, 3].iter().cycle() {
        if j0 >= q.n {
            break;
        }
        let range = j0..(j0 + width).min(q.n);
        j0 = range.end;
        // SAFETY: one thread, ranges within the matrix; the wide kernels are only passed in
        // when the CPU has them.
        unsafe {
            match &q.weights {
                Weights::Q4_1(w) => fill(w, range, &outputs, &rows),
                Weights::Q8_0(w) => fill8(w, range, &outputs, &rows),
            }
        }
    }
    out
}

fn assert_bits_eq(got: &[f32], want: &[f32], what: &str) {
    let (got, want): (Vec<u32>, Vec<u32>) =
        (got.iter().map(|v| v.to_bits()).collect(), want.iter().map(|v| v.to_bits()).collect());
    assert_eq!(got, want, "{what}");
}

#[test]
fn every_kernel_path_matches_the_scalar_twin_bit_for_bit() {
    for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
        let q = QMatrix::from_qtensor(&weights(37, 96, dtype)).expect("matrix");
        for m in 1..=11 {
            let acts = quantize_rows(&input(m, 96), 96);
            let want = scalar_reference(&q, &acts, m);
            assert_bits_eq(&q.matmul_quantized(&acts, m), &want, &format!("{dtype:?} m={m} dispatched"));
            let baseline = fill_with(&q, &acts, m, dispatch::fill_baseline, dispatch::fill_baseline);
            assert_bits_eq(&baseline, &want, &format!("{dtype:?} m={m} baseline"));
            if wide_kernels() {
                let wide = fill_with(&q, &acts, m, dispatch::fill_wide, dispatch::fill_wide);
                assert_bits_eq(&wide, &want, &format!("{dtype:?} m={m} avx-512"));
            } else if m == 1 {
                eprintln!("this CPU has no AVX-512 VNNI: the wide kernels are not tested here");
            }
        }
    }
}

#[test]
fn close_to_candle_reference() {
    for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
        let qt = weights(64, 128, dtype);
        let x = input(4, 128);
        let ours = QMatrix::from_qtensor(&qt).expect("matrix").matmul(&x, 4);
        let dense = qt.dequantize(&Device::Cpu).expect("deq");
        // The kernel quantizes activations to 8 bits: compare with exactly those values.
        let xq: Vec<f32> = quantize_rows(&x, 128)
            .iter()
            .flat_map(|b| b.qs.iter().map(move |&q| b.d * f32::from(q)))
            .collect();
        let xt = Tensor::from_vec(xq, (4, 128), &Device::Cpu).expect("x");
        let reference: Vec<f32> =
            xt.matmul(&dense.t().expect("t")).expect("mm").flatten_all().expect("f").to_vec1().expect("v");
        for (a, b) in ours.iter().zip(&reference) {
            assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{dtype:?}: {a} vs {b}");
        }
    }
}

#[test]
fn batching_does_not_change_a_row() {
    let q = QMatrix::from_qtensor(&weights(48, 64, GgmlDType::Q4_1)).expect("matrix");
    let x = input(5, 64);
    let batched = q.matmul(&x, 5);
    for r in 0..5 {
        let alone = q.matmul(&x[r * 64..(r + 1) * 64], 1);
        assert_eq!(&batched[r * 48..(r + 1) * 48], &alone[..]);
    }
}

#[test]
fn rows_dequantize_like_candle() {
    let qt = weights(8, 64, GgmlDType::Q4_1);
    let q = QMatrix::from_qtensor(&qt).expect("matrix");
    let dense: Vec<Vec<f32>> = qt.dequantize(&Device::Cpu).expect("deq").to_vec2().expect("v");
    assert_eq!(q.row(3), dense[3]);
}
