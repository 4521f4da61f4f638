//! A byte-level BPE tokenizer built from a GGUF file's own metadata (`tokenizer.ggml.*`), so a
//! GGUF is self-contained: no tokenizer.json is needed.
//!
//! Encoding runs through the `tokenizers` crate (BPE over the GGUF's vocabulary and merges, with
//! the pre-tokenizer that `tokenizer.ggml.pre` names). Decoding maps every token to its raw
//! bytes, which lets streaming output be cut only at UTF-8 character boundaries.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::{ModelError, Result};

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const TOKEN_TYPE_CONTROL: u32 = 3;
const TOKEN_TYPE_USER_DEFINED: u32 = 4;

/// Token texts that end a turn whatever the GGUF names as its EOS.
const END_OF_GENERATION: &[&str] = &["<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end|>", "</s>"];

/// The tokenizer of a GGUF model.
pub struct GgufTokenizer {
    inner: Tokenizer,
    /// Raw bytes of each token; empty for control tokens, which never reach the output text.
    token_bytes: Vec<Vec<u8>>,
    tokens: Vec<String>,
    end_of_generation: Vec<u32>,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    add_bos: bool,
}

fn meta<'a>(ct: &'a Content, key: &str) -> Result<&'a Value> {
    ct.metadata.get(key).ok_or_else(|| ModelError::Format(format!("GGUF metadata has no `{key}`")))
}

fn meta_u32(ct: &Content, key: &str) -> Option<u32> {
    ct.metadata.get(key).and_then(|v| match v {
        Value::U8(x) => Some(u32::from(*x)),
        Value::U16(x) => Some(u32::from(*x)),
        Value::U32(x) => Some(*x),
        Value::I32(x) => u32::try_from(*x).ok(),
        Value::U64(x) => u32::try_from(*x).ok(),
        Value::I64(x) => u32::try_from(*x).ok(),
        _ => None,
    })
}

fn meta_strings(ct: &Content, key: &str) -> Result<Vec<String>> {
    let values =
        meta(ct, key)?.to_vec().map_err(|_| ModelError::Format(format!("`{key}` is not an array")))?;
    values
        .iter()
        .map(|v| {
            v.to_string().cloned().map_err(|_| ModelError::Format(format!("`{key}` holds a non-string")))
        })
        .collect()
}

/// GPT-2's reversible map from bytes to printable characters, inverted: char -> byte.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut printable: Vec<u8> = (b'!'..=b'~').chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
    let mut chars: Vec<u32> = printable.iter().map(|&b| u32::from(b)).collect();
    let mut extra = 0u32;
    for b in 0..=255u8 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + extra);
            extra += 1;
        }
    }
    printable.into_iter().zip(chars).filter_map(|(b, c)| char::from_u32(c).map(|c| (c, b))).collect()
}

fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper> {
    // Regexes as llama.cpp applies them for each `tokenizer.ggml.pre`.
    const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let gpt2 = ByteLevel::new(false, true, true);
    let split = |re: &str| -> Result<PreTokenizerWrapper> {
        let split = Split::new(SplitPattern::Regex(re.to_string()), SplitDelimiterBehavior::Isolated, false)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(PreSequence::new(vec![split.into(), ByteLevel::new(false, true, false).into()]).into())
    };
    Ok(match pre {
        // SmolLM: every digit alone, then GPT-2's byte-level split.
        "smollm" => PreSequence::new(vec![Digits::new(true).into(), gpt2.into()]).into(),
        "llama3" | "llama-bpe" | "smaug-bpe" => split(LLAMA3)?,
        "qwen2" => split(QWEN2)?,
        "gpt2" | "default" => gpt2.into(),
        other => {
            return Err(ModelError::Format(format!(
                "unsupported GGUF pre-tokenizer `{other}` (supported: smollm, gpt2, llama3, qwen2)"
            )));
        }
    })
}

impl GgufTokenizer {
    /// Builds the tokenizer from GGUF metadata.
    pub fn from_gguf(ct: &Content) -> Result<Self> {
        let model =
            meta(ct, "tokenizer.ggml.model")?.to_string().map_err(|e| ModelError::Format(e.to_string()))?;
        if model != "gpt2" {
            return Err(ModelError::Format(format!(
                "tokenizer model `{model}` is not supported (only byte-level BPE, `gpt2`)"
            )));
        }
        let tokens = meta_strings(ct, "tokenizer.ggml.tokens")?;
        let merges: Vec<(String, String)> = meta_strings(ct, "tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| ModelError::Format(format!("malformed merge `{m}`")))
            })
            .collect::<Result<_>>()?;
        let types: Vec<u32> = match ct.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| ModelError::Format(e.to_string()))?
                .iter()
                .map(|t| t.to_i32().map(|t| t as u32).unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let mut inner = Tokenizer::new(bpe);
        let pre = ct
            .metadata
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok().cloned())
            .unwrap_or_else(|| "default".to_string());
        inner.with_pre_tokenizer(Some(pre_tokenizer(&pre)?));

        let mut special = Vec::new();
        let mut user = Vec::new();
        for (token, &ty) in tokens.iter().zip(&types) {
            match ty {
                TOKEN_TYPE_CONTROL => special.push(AddedToken::from(token.clone(), true)),
                TOKEN_TYPE_USER_DEFINED => user.push(AddedToken::from(token.clone(), false)),
                _ => {}
            }
        }
        inner.add_special_tokens(special).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        inner.add_tokens(user).map_err(|e| ModelError::Tokenizer(e.to_string()))?;

        let to_byte = unicode_to_byte();
        let token_bytes = tokens
            .iter()
            .zip(&types)
            .map(|(t, &ty)| match ty {
                TOKEN_TYPE_CONTROL => Vec::new(),
                TOKEN_TYPE_USER_DEFINED => t.as_bytes().to_vec(),
                _ => t
                    .chars()
                    .flat_map(|c| match to_byte.get(&c) {
                        Some(&b) => vec![b],
                        None => c.to_string().into_bytes(),
                    })
                    .collect(),
            })
            .collect();
        let eos_id = meta_u32(ct, "tokenizer.ggml.eos_token_id");
        let mut end_of_generation: Vec<u32> = tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| END_OF_GENERATION.contains(&t.as_str()))
            .map(|(i, _)| i as u32)
            .collect();
        end_of_generation.extend(eos_id);
        let add_bos = matches!(ct.metadata.get("tokenizer.ggml.add_bos_token"), Some(Value::Bool(true)));
        Ok(Self {
            inner,
            token_bytes,
            tokens,
            end_of_generation,
            bos_id: meta_u32(ct, "tokenizer.ggml.bos_token_id"),
            eos_id,
            add_bos,
        })
    }

    /// Token ids of `text`. Control tokens written in the text (`<|im_start|>`) become their ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        if self.add_bos {
            ids.extend(self.bos_id);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// Raw bytes of one token (empty for control tokens and unknown ids).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes.get(id as usize).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Text of `ids`, control tokens skipped; invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id).iter().copied()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// True for tokens that end a generation (EOS, end of turn).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.end_of_generation.contains(&id)
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The text of the BOS token, for chat templates.
    pub fn bos_token(&self) -> &str {
        self.bos_id.and_then(|i| self.tokens.get(i as usize)).map(String::as_str).unwrap_or("")
    }

    /// The text of the EOS token, for chat templates.
    pub fn eos_token(&self) -> &str {
        self.eos_id.and_then(|i| self.tokens.get(i as usize)).map(String::as_str).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection() {
        let map = unicode_to_byte();
        assert_eq!(map.len(), 256);
        let mut bytes: Vec<u8> = map.values().copied().collect();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), 256);
        assert_eq!(map.get(&'Ġ'), Some(&b' '));
        assert_eq!(map.get(&'Ċ'), Some(&b'\n'));
    }
}
