//! The GPU code path (`DeviceLlama`) on the real default model: it computes the same model as
//! Wick's kernels (within quantization noise), and its outputs do not depend on the batch, the
//! prompt's chunking or a shared prefix. Here it runs on candle's CPU backend; on a GPU
//! (`WICK_TEST_DEVICE=cuda:0`, as `scripts/gpu-check.sh` runs it) the same checks hold for the
//! CUDA kernels.

mod common;

use wick_models::llama::BatchItem;
use wick_models::{ChatMessage, GenerationParams, TextModel};

fn prompt(model: &TextModel) -> Vec<u32> {
    model.encode_chat(&[ChatMessage::user("What is the capital of France?")]).expect("encode")
}

fn last_logits(model: &TextModel, chunks: &[&[u32]]) -> Vec<f32> {
    let t = model.transformer();
    let mut cache = t.new_cache();
    let mut out = Vec::new();
    for (i, tokens) in chunks.iter().enumerate() {
        let want_logits = i + 1 == chunks.len();
        out = t.forward(&mut [BatchItem { cache: &mut cache, tokens, want_logits }]).expect("forward");
    }
    out.pop().expect("logits")
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).expect("non-empty")
}

#[test]
fn the_device_path_computes_the_same_model_as_the_cpu_kernels() {
    let (cpu, dev) = (common::chat_model(), common::device_chat_model());
    assert_eq!(cpu.numeric_class(), "cpu-v1");
    let expected = if common::test_device() == wick_models::ComputeDevice::CandleCpu {
        "candle-cpu-v1"
    } else {
        "cuda-"
    };
    assert!(dev.numeric_class().starts_with(expected), "{}", dev.numeric_class());
    let ids = prompt(cpu);
    let (a, b) = (last_logits(cpu, &[&ids]), last_logits(dev, &[&ids]));
    assert_eq!(argmax(&a), argmax(&b), "same next token");
    let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst < 0.05 * scale, "logits differ by {worst} (largest logit {scale})");
    let params = GenerationParams { max_tokens: 12, ..GenerationParams::default() };
    let msgs = [ChatMessage::user("What is the capital of France?")];
    let text = dev.generate(&msgs, &params, |_| {}).expect("generate").text;
    assert!(text.contains("Paris"), "{text:?}");
}

#[test]
fn device_outputs_do_not_depend_on_chunking_or_batch() {
    let model = common::device_chat_model();
    let ids = prompt(model);
    let whole = last_logits(model, &[&ids]);
    let (head, tail) = ids.split_at(ids.len() / 2 + 3);
    assert_eq!(whole, last_logits(model, &[head, tail]), "chunked prefill");
    let t = model.transformer();
    let other =
        model.encode_chat(&[ChatMessage::user("Tell me a joke about cats and dogs.")]).expect("encode");
    let (mut c1, mut c2, mut c3) = (t.new_cache(), t.new_cache(), t.new_cache());
    let batched = t
        .forward(&mut [
            BatchItem { cache: &mut c1, tokens: &other, want_logits: true },
            BatchItem { cache: &mut c2, tokens: &ids, want_logits: true },
            BatchItem { cache: &mut c3, tokens: &ids[..5], want_logits: false },
        ])
        .expect("batch");
    assert_eq!(batched.len(), 2);
    assert_eq!(whole, batched[1], "beside other sequences");
    let shared = c2.prefix(ids.len() - 1).expect("prefix");
    let mut adopted = shared;
    let again = t
        .forward(&mut [BatchItem { cache: &mut adopted, tokens: &ids[ids.len() - 1..], want_logits: true }])
        .expect("from a prefix");
    assert_eq!(whole, again[0], "from a copied prefix");
}
