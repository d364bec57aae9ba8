//! The word splitting that GGUF's `tokenizer.ggml.pre` names, as Hugging Face pre-tokenizers.
//!
//! llama.cpp splits text with a list of regexes applied one after the other, each to the pieces
//! the previous one left, keeping the text between matches as pieces of its own
//! (`unicode_regex_split` in `src/unicode.cpp`). That is a sequence of `Split` pre-tokenizers with
//! the `Isolated` behaviour, followed by the GPT-2 byte-to-character mapping. The regexes are
//! llama.cpp's (`llm_tokenizer_bpe` in `src/llama-vocab.cpp`); where llama.cpp rewrote a
//! case-insensitive group as explicit ASCII classes, so do we, so that only ASCII letters fold.

use selene_gguf::keys::tokenizer::PRE;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::tokenizer::SplitDelimiterBehavior;

use crate::error::{Error, Result};

/// GPT-2's split; llama.cpp's own implementation also takes any remaining whitespace (`\s+`).
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Llama 3's split: contractions of either case, letters with one leading non-letter, numbers
/// of at most three digits, punctuation runs with their newlines, newline runs.
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The pre-tokenizer families implemented, with the `tokenizer.ggml.pre` names llama.cpp maps to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PreTokenizer {
    /// `llama3`, `llama-v3`, `llama-bpe` (Llama 3 and 3.1).
    Llama3,
    /// `smollm`: every digit alone, then GPT-2's split.
    SmolLm,
    /// `gpt-2`.
    Gpt2,
    /// `default`, or no `tokenizer.ggml.pre` at all (llama.cpp warns that quality suffers).
    Default,
}

impl PreTokenizer {
    pub(crate) fn from_name(name: Option<&str>) -> Result<PreTokenizer> {
        Ok(match name {
            None | Some("default") => PreTokenizer::Default,
            Some("llama3" | "llama-v3" | "llama-bpe") => PreTokenizer::Llama3,
            Some("smollm") => PreTokenizer::SmolLm,
            Some("gpt-2") => PreTokenizer::Gpt2,
            Some(other) => {
                return Err(Error::metadata(
                    PRE,
                    format!(
                        "unsupported pre-tokenizer {other:?} (supported: llama-bpe, llama3, llama-v3, smollm, gpt-2, default)"
                    ),
                ));
            }
        })
    }

    fn regexes(self) -> &'static [&'static str] {
        match self {
            PreTokenizer::Llama3 => &[LLAMA3],
            PreTokenizer::SmolLm => &[r"\p{N}", GPT2],
            PreTokenizer::Gpt2 => &[GPT2],
            PreTokenizer::Default => &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
        }
    }

    /// Llama 3 looks a whole word up in the vocabulary before merging (`ignore_merges`).
    pub(crate) fn ignores_merges(self) -> bool {
        self == PreTokenizer::Llama3
    }

    /// Whether llama.cpp adds BOS when the metadata does not say.
    pub(crate) fn adds_bos_by_default(self) -> bool {
        self == PreTokenizer::Llama3
    }

    /// The splits followed by the byte-level mapping.
    pub(crate) fn build(self) -> Result<PreTokenizerWrapper> {
        let mut steps = Vec::new();
        for regex in self.regexes() {
            let split = Split::new(SplitPattern::Regex((*regex).to_owned()), SplitDelimiterBehavior::Isolated, false)
                .map_err(Error::tokenizers)?;
            steps.push(PreTokenizerWrapper::Split(split));
        }
        steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, false)));
        Ok(PreTokenizerWrapper::Sequence(Sequence::new(steps)))
    }
}
