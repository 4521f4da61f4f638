//! Node config files: TOML read into a component's config struct, whose missing keys keep their
//! defaults; flags and environment variables override it afterwards.

use std::path::Path;

use anyhow::Context;
use serde::de::DeserializeOwned;

/// Reads the TOML file at `path` as a `T`; the error names the file and, for bad TOML, the line.
pub fn load<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("while reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid config file", path.display()))
}
