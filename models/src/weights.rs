//! Where weights live: a read-only memory map of a GGUF file, shared by every matrix that reads
//! from it, or bytes of our own (tensors requantized at load, tests). The kernels read the
//! file's blocks in place, so a model costs its file's pages (shared with the page cache, and
//! only those touched), not a copy.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use crate::{ModelError, Result};

enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// A shared, immutable byte range.
#[derive(Clone)]
pub struct Bytes {
    backing: Arc<Backing>,
    range: Range<usize>,
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match *self.backing {
            Backing::Mapped(_) => "mapped",
            Backing::Owned(_) => "owned",
        };
        write!(f, "Bytes({kind}, {:?})", self.range)
    }
}

impl Bytes {
    /// Bytes of our own.
    pub fn owned(bytes: Vec<u8>) -> Self {
        let range = 0..bytes.len();
        Self { backing: Arc::new(Backing::Owned(bytes)), range }
    }

    /// Maps the file at `path` read-only.
    ///
    /// The files Wick maps are installed by an atomic rename and never written in place, which
    /// is what makes the mapping safe to read: nobody changes its contents meanwhile.
    pub fn map(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path)
            .map_err(|e| ModelError::io(format!("opening {}", path.display()), e))?;
        // SAFETY: see above; the mapping is read-only and lives as long as any `Bytes` of it.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| ModelError::io(format!("mapping {}", path.display()), e))?;
        let range = 0..map.len();
        Ok(Self { backing: Arc::new(Backing::Mapped(map)), range })
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        let all: &[u8] = match &*self.backing {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        };
        &all[self.range.clone()]
    }

    /// The sub-range `start..start + len` of these bytes, sharing them.
    pub fn slice(&self, start: usize, len: usize) -> Result<Self> {
        let end = start.checked_add(len).filter(|&end| end <= self.range.len()).ok_or_else(|| {
            ModelError::Format(format!("{len} bytes at {start} run past the end ({})", self.range.len()))
        })?;
        Ok(Self { backing: self.backing.clone(), range: self.range.start + start..self.range.start + end })
    }
}
