//! The GGUF tokenizer and chat template, on the real default model.

mod common;

use wick_models::ChatMessage;

#[test]
fn round_trips_multibyte_text() {
    let tok = common::chat_model().tokenizer();
    for text in [
        "héllo wörld — 東京 🚀",
        "naïve café, Ελληνικά, русский, العربية",
        "emoji 👩‍👩‍👧 and\ttabs\n\nnew lines",
        "12345 + 0.5",
    ] {
        let ids = tok.encode(text).expect("encode");
        assert_eq!(tok.decode(&ids), text, "ids {ids:?}");
    }
}

#[test]
fn matches_llama_cpp_tokenization() {
    // Ids printed by llama.cpp's llama-server /tokenize (parse_special) for the same GGUF.
    let tok = common::chat_model().tokenizer();
    let ids =
        tok.encode("Hello world 12345, héllo wörld — 東京 🚀\n\n  foo<|im_start|>user").expect("encode");
    assert_eq!(
        ids,
        [
            19556, 905, 216, 33, 34, 35, 36, 37, 28, 294, 2756, 31394, 267, 29989, 400, 1841, 17097, 247,
            126, 16736, 122, 15107, 244, 218, 8866, 29856, 1, 4093
        ]
    );
}

#[test]
fn control_tokens_are_single_ids_and_end_generation() {
    let tok = common::chat_model().tokenizer();
    assert_eq!(tok.encode("<|im_start|>").expect("encode"), [1]);
    assert_eq!(tok.encode("<|im_end|>").expect("encode"), [2]);
    assert!(tok.is_end_of_generation(2));
    assert!(!tok.is_end_of_generation(1));
    assert_eq!(tok.decode(&[1, 2]), "", "control tokens never reach the text");
}

#[test]
fn chat_template_renders_system_and_user() {
    let model = common::chat_model();
    let rendered = model
        .render_chat(&[ChatMessage::system("You are terse."), ChatMessage::user("Hi there!")])
        .expect("render");
    // What the GGUF's template gives for this conversation with add_generation_prompt.
    assert_eq!(
        rendered,
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn chat_template_adds_the_default_system_prompt() {
    let rendered = common::chat_model().render_chat(&[ChatMessage::user("Hi")]).expect("render");
    assert!(
        rendered.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"),
        "{rendered}"
    );
    assert!(rendered.ends_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
}

#[test]
fn empty_conversation_is_rejected() {
    let err = common::chat_model().render_chat(&[]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("messages must not be empty"), "{err}");
}
