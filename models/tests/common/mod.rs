//! Shared set-up for tests that run the real default models: the store named by the environment
//! (`WICK_HOME`), with the models fetched on first use, loaded once per test binary.

#![allow(dead_code)]

use std::sync::OnceLock;

use wick_models::fetch::{FetchOptions, NoProgress};
use wick_models::generate::LoadOptions;
use wick_models::{
    DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDING_MODEL, Embedder, InstalledModel, ModelStore, QWEN_CODER_05B,
    TextModel,
};

pub fn installed(name: &str) -> InstalledModel {
    let options = FetchOptions { verbose: false, ..FetchOptions::default() };
    match ModelStore::from_env().ensure(name, &options, &NoProgress) {
        Ok(m) => m,
        Err(e) => panic!("the real model {name} is needed for this test: {e}"),
    }
}

pub fn chat_model() -> &'static TextModel {
    static MODEL: OnceLock<TextModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        TextModel::load(&installed(DEFAULT_CHAT_MODEL), &LoadOptions::default())
            .unwrap_or_else(|e| panic!("loading the chat model: {e}"))
    })
}

/// The qwen2 model of the catalog's defaults (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M).
pub fn qwen_model() -> &'static TextModel {
    static MODEL: OnceLock<TextModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        TextModel::load(&installed(QWEN_CODER_05B), &LoadOptions::default())
            .unwrap_or_else(|e| panic!("loading the qwen2 model: {e}"))
    })
}

pub fn embedder() -> &'static Embedder {
    static MODEL: OnceLock<Embedder> = OnceLock::new();
    MODEL.get_or_init(|| {
        Embedder::load(&installed(DEFAULT_EMBEDDING_MODEL))
            .unwrap_or_else(|e| panic!("loading the embedder: {e}"))
    })
}

/// The device of [`device_chat_model`]: `WICK_TEST_DEVICE` (`cuda:0` in `scripts/gpu-check.sh`),
/// by default `candle-cpu`, the GPU code path on candle's CPU backend.
pub fn test_device() -> wick_models::ComputeDevice {
    let name = std::env::var("WICK_TEST_DEVICE").unwrap_or_else(|_| "candle-cpu".into());
    name.parse().unwrap_or_else(|e| panic!("WICK_TEST_DEVICE: {e}"))
}

/// The default chat model on the GPU code path, on [`test_device`].
pub fn device_chat_model() -> &'static TextModel {
    static MODEL: OnceLock<TextModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let options = LoadOptions { device: test_device(), ..LoadOptions::default() };
        TextModel::load(&installed(DEFAULT_CHAT_MODEL), &options)
            .unwrap_or_else(|e| panic!("loading the chat model on candle's CPU backend: {e}"))
    })
}
