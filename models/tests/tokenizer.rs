//! The GGUF tokenizers and chat templates, on the real default model and the qwen2 model.

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

#[test]
fn qwen_matches_llama_cpp_tokenization() {
    // Ids printed by llama.cpp's llama-server /tokenize (parse_special, no special tokens added)
    // for the same GGUF: a multilingual string and a code string, through the qwen2 pre-tokenizer.
    let tok = common::qwen_model().tokenizer();
    let multilingual = tok.encode("Hello world 12345, héllo wörld — 東京 🚀 Привет, мир! مرحبا بالعالم 안녕하세요 नमस्ते Ελληνικά 1234567\n\n  foo<|im_start|>user").expect("encode");
    assert_eq!(
        multilingual,
        [
            9707, 1879, 220, 16, 17, 18, 19, 20, 11, 305, 18503, 385, 289, 9416, 507, 1959, 60596, 109,
            46553, 11162, 248, 222, 79484, 26991, 8178, 11, 137144, 0, 23364, 126860, 124671, 124476, 129634,
            95170, 144370, 91145, 14925, 101, 87244, 78368, 30484, 97, 34370, 7851, 243, 33486, 33486, 41424,
            33269, 29762, 67337, 74134, 220, 16, 17, 18, 19, 20, 21, 22, 271, 220, 15229, 151644, 872
        ]
    );
    let code = tok.encode("fn main() {\n    let xs = vec![1, 2, 3];\n\tprintln!(\"{:?}\", xs.iter().map(|v| v * 2).collect::<Vec<_>>());\n}\n\n# 3.14159 != 22/7\ndef f(a, b):\n    return a**b  // 1_000_000  # it's   done\n").expect("encode");
    assert_eq!(
        code,
        [
            8822, 1887, 368, 341, 262, 1077, 11943, 284, 7486, 20703, 16, 11, 220, 17, 11, 220, 18, 935,
            81168, 88928, 25, 52652, 11943, 19471, 1005, 2186, 22428, 85, 91, 348, 353, 220, 17, 568, 17384,
            27638, 10050, 32399, 2452, 1423, 630, 2, 220, 18, 13, 16, 19, 16, 20, 24, 961, 220, 17, 17, 14,
            22, 198, 750, 282, 2877, 11, 293, 982, 262, 470, 264, 334, 65, 220, 442, 220, 16, 62, 15, 15, 15,
            62, 15, 15, 15, 220, 671, 432, 594, 256, 2814, 198
        ]
    );
}

#[test]
fn qwen_round_trips_and_ends_turns_on_its_control_tokens() {
    let tok = common::qwen_model().tokenizer();
    for text in
        ["héllo wörld — 東京 🚀", "def f(x):\n\treturn x ** 2  # square\n", "emoji 👩‍👩‍👧 and\ttabs\n\nnew lines"]
    {
        let ids = tok.encode(text).expect("encode");
        assert_eq!(tok.decode(&ids), text, "ids {ids:?}");
    }
    assert_eq!(tok.encode("<|im_start|>").expect("encode"), [151644]);
    assert_eq!(tok.encode("<|im_end|>").expect("encode"), [151645]);
    assert!(tok.is_end_of_generation(151645) && tok.is_end_of_generation(151643));
    assert!(!tok.is_end_of_generation(151644));
    assert_eq!(tok.decode(&[151644, 151645]), "", "control tokens never reach the text");
}

#[test]
fn qwen_chat_template_comes_from_the_gguf() {
    let rendered = common::qwen_model().render_chat(&[ChatMessage::user("Hi")]).expect("render");
    assert_eq!(
        rendered,
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
}
