//! Embeddings with the real default model.

mod common;

use wick_models::embed::cosine;

#[test]
fn similar_sentences_are_closer() {
    let v = common::embedder()
        .embed(&["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awful."])
        .expect("embed");
    assert_eq!(v.len(), 3);
    let close = cosine(&v[0], &v[1]);
    let far = cosine(&v[0], &v[2]);
    assert!(close > far, "{close} vs {far}");
    // The published all-MiniLM-L6-v2 value for this pair.
    assert!((close - 0.7553).abs() < 2e-3, "{close}");
}

#[test]
fn vectors_are_unit_length_and_batching_does_not_change_them() {
    let e = common::embedder();
    let texts = ["short", "a noticeably longer sentence that forces padding in the batch"];
    let batch = e.embed(&texts).expect("embed");
    for (text, vector) in texts.iter().zip(&batch) {
        assert_eq!(vector.len(), 384);
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        let alone = e.embed(&[text]).expect("embed");
        assert!(cosine(vector, &alone[0]) > 0.99999);
    }
}

#[test]
fn empty_batch_gives_nothing() {
    assert!(common::embedder().embed(&[]).expect("embed").is_empty());
}
