//! The data directory: where models are installed, and loading their files with verification.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog::{self, CatalogEntry, CatalogFile};
use crate::weights::Bytes;
use crate::{ModelError, Result};

/// A model's id on the network: the sha256 of its weights file, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ModelId(String);

impl ModelId {
    /// The id of a catalog entry (known without reading any file).
    pub fn of(entry: &CatalogEntry) -> Self {
        Self(entry.weights().sha256.to_string())
    }

    /// An id from a sha256 digest in lowercase hex.
    pub fn from_sha256(hex: String) -> Self {
        Self(hex)
    }

    /// The id as hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where Wick keeps its models: `$WICK_HOME`, else `$XDG_DATA_HOME/wick`, else
/// `~/.local/share/wick`.
#[derive(Debug, Clone)]
pub struct ModelStore {
    home: PathBuf,
}

/// Whether a catalog model is installed, for listings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelStatus {
    /// Catalog name.
    pub name: &'static str,
    /// Chat or embedding.
    pub kind: catalog::ModelKind,
    /// Network id (sha256 of the weights).
    pub id: ModelId,
    /// Total size of the model's files in bytes.
    pub size: u64,
    /// True when every file is present with the expected size.
    pub installed: bool,
    /// The model's folder.
    pub path: PathBuf,
}

impl ModelStore {
    /// A store rooted at `home`.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        Self { home: home.into() }
    }

    /// The store named by the environment (see the type's docs).
    pub fn from_env() -> Self {
        Self::new(default_home())
    }

    /// The data directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Folder that holds installed models.
    pub fn models_dir(&self) -> PathBuf {
        self.home.join("models")
    }

    /// Folder of one model.
    pub fn model_dir(&self, entry: &CatalogEntry) -> PathBuf {
        self.models_dir().join(entry.name)
    }

    /// True when every file of the model is present with its expected size (contents are
    /// checked when the model is loaded).
    pub fn is_installed(&self, entry: &CatalogEntry) -> bool {
        let dir = self.model_dir(entry);
        entry
            .files
            .iter()
            .all(|f| std::fs::metadata(dir.join(f.file_name)).map(|m| m.len() == f.size).unwrap_or(false))
    }

    /// The installed model named `name`, or an error naming the fetch command.
    pub fn installed(&self, name: &str) -> Result<InstalledModel> {
        let entry = catalog::find(name)?;
        if !self.is_installed(entry) {
            return Err(ModelError::NotInstalled { name: name.to_string(), home: self.home.clone() });
        }
        Ok(InstalledModel { entry: entry.clone(), dir: self.model_dir(entry) })
    }

    /// Status of every catalog model.
    pub fn list(&self) -> Vec<ModelStatus> {
        catalog::CATALOG
            .iter()
            .map(|e| ModelStatus {
                name: e.name,
                kind: e.kind,
                id: ModelId::of(e),
                size: e.total_size(),
                installed: self.is_installed(e),
                path: self.model_dir(e),
            })
            .collect()
    }
}

fn default_home() -> PathBuf {
    if let Some(home) = std::env::var_os("WICK_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("wick");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/wick")
}

/// A model whose files are in the data directory.
#[derive(Debug, Clone)]
pub struct InstalledModel {
    /// Its catalog entry.
    pub entry: CatalogEntry,
    /// Its folder.
    pub dir: PathBuf,
}

impl InstalledModel {
    /// The model's network id.
    pub fn id(&self) -> ModelId {
        ModelId::of(&self.entry)
    }

    /// Path of one installed file.
    pub fn path(&self, file: &CatalogFile) -> PathBuf {
        self.dir.join(file.file_name)
    }

    fn file(&self, file_name: &str) -> Result<&CatalogFile> {
        self.entry
            .files
            .iter()
            .find(|f| f.file_name == file_name)
            .ok_or_else(|| ModelError::Format(format!("model {} has no file {file_name}", self.entry.name)))
    }

    fn check(&self, file: &CatalogFile, path: PathBuf, actual: String) -> Result<()> {
        if actual == file.sha256 {
            return Ok(());
        }
        Err(ModelError::ChecksumMismatch {
            name: self.entry.name.to_string(),
            path,
            expected: file.sha256.to_string(),
            actual,
        })
    }

    /// Reads a file and checks its sha256 against the catalog, so corrupt weights never load.
    pub fn read_verified(&self, file_name: &str) -> Result<Vec<u8>> {
        let file = self.file(file_name)?;
        let path = self.path(file);
        let bytes =
            std::fs::read(&path).map_err(|e| ModelError::io(format!("reading {}", path.display()), e))?;
        let actual = sha256_hex(&bytes);
        self.check(file, path, actual)?;
        Ok(bytes)
    }

    /// Checks a file's sha256 against the catalog, then maps it read-only. The hash reads the
    /// file rather than the mapping, so pages the model never touches (most of the embedding
    /// table) stay out of the process's memory.
    pub(crate) fn map_verified(&self, file_name: &str) -> Result<Bytes> {
        let file = self.file(file_name)?;
        let path = self.path(file);
        let actual = sha256_file(&path)?;
        self.check(file, path.clone(), actual)?;
        Bytes::map(&path)
    }
}

/// sha256 of a file's contents as lowercase hex, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file =
        std::fs::File::open(path).map_err(|e| ModelError::io(format!("opening {}", path.display()), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| ModelError::io(format!("reading {}", path.display()), e))?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
