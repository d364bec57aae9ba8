//! The vocabulary as llama.cpp sees it: every token's text and type, and which tokens are
//! special.
//!
//! Both sources (GGUF metadata, `tokenizer.json`) are reduced to this one description, so that
//! special-token handling and end-of-generation detection are decided in one place and the
//! same way llama.cpp decides them (`src/llama-vocab.cpp`): by the ids the metadata names, and by
//! the token texts llama.cpp recognizes when the metadata does not name them.

use std::collections::BTreeSet;

use selene_gguf::keys::tokenizer;

/// The type of a token, as GGUF's `tokenizer.ggml.token_type` numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Normal,
    Unknown,
    /// Structure of the conversation (`<|eot_id|>`, `<|im_start|>`): only templates may produce it.
    Control,
    /// Added by the model's authors but matched in any text, data included (llama.cpp and HF
    /// `tokenizers` both do so).
    UserDefined,
    Unused,
    /// SentencePiece byte fallback `<0xAB>`.
    Byte,
}

impl TokenKind {
    /// GGUF's numbering (llama.cpp's `llama_token_type`); unknown numbers count as normal, as
    /// llama.cpp treats an undefined type like a normal one when tokenizing.
    pub(crate) fn from_gguf(code: i32) -> TokenKind {
        match code {
            2 => TokenKind::Unknown,
            3 => TokenKind::Control,
            4 => TokenKind::UserDefined,
            5 => TokenKind::Unused,
            6 => TokenKind::Byte,
            _ => TokenKind::Normal,
        }
    }

    /// Whether text of this kind is only produced by templates, never by encoding data, and is
    /// left out by `decode(.., skip_special = true)`.
    pub(crate) fn is_special(self) -> bool {
        matches!(self, TokenKind::Control | TokenKind::Unknown)
    }
}

/// One token of the vocabulary.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) text: String,
    pub(crate) kind: TokenKind,
}

/// A role llama.cpp assigns to special tokens: the metadata key that names its id, and the texts
/// llama.cpp recognizes the token by when the key is absent.
struct Role {
    key: &'static str,
    texts: &'static [&'static str],
    ends_generation: bool,
}

const ROLES: &[Role] = &[
    Role {
        key: tokenizer::EOT_ID,
        texts: &[
            "<|eot_id|>",
            "<|im_end|>",
            "<|end|>",
            "<end_of_turn>",
            "<|endoftext|>",
            "<|end_of_text|>",
            "<EOT>",
            "_<EOT>",
            "[EOT]",
            "<｜end▁of▁sentence｜>",
            "<end_of_utterance>",
        ],
        ends_generation: true,
    },
    Role { key: tokenizer::EOM_ID, texts: &["<|eom_id|>"], ends_generation: true },
    Role {
        key: tokenizer::FIM_PRE_ID,
        texts: &[
            "<|fim_prefix|>",
            "<fim-prefix>",
            "<fim_prefix>",
            "<｜fim▁begin｜>",
            "<PRE>",
            "▁<PRE>",
            "<|code_prefix|>",
            "<|prefix|>",
        ],
        ends_generation: false,
    },
    Role {
        key: tokenizer::FIM_SUF_ID,
        texts: &[
            "<|fim_suffix|>",
            "<fim-suffix>",
            "<fim_suffix>",
            "<｜fim▁hole｜>",
            "<SUF>",
            "▁<SUF>",
            "<|code_suffix|>",
            "<|suffix|>",
        ],
        ends_generation: false,
    },
    Role {
        key: tokenizer::FIM_MID_ID,
        texts: &[
            "<|fim_middle|>",
            "<fim-middle>",
            "<fim_middle>",
            "<｜fim▁end｜>",
            "<MID>",
            "▁<MID>",
            "<|code_middle|>",
            "<|middle|>",
        ],
        ends_generation: false,
    },
    Role {
        key: tokenizer::FIM_PAD_ID,
        texts: &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
        ends_generation: true,
    },
    Role {
        key: tokenizer::FIM_REP_ID,
        texts: &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
        ends_generation: true,
    },
    Role { key: tokenizer::FIM_SEP_ID, texts: &["<|file_sep|>"], ends_generation: true },
];

/// Texts that end generation whatever the metadata says (llama.cpp's EOG list).
const END_OF_GENERATION_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// Ids named by the metadata (or its defaults); `None` where a role has no token.
#[derive(Clone, Debug, Default)]
pub(crate) struct NamedIds {
    pub(crate) bos: Option<u32>,
    pub(crate) eos: Option<u32>,
    /// Ids the metadata names for the roles of [`ROLES`], by key.
    pub(crate) roles: Vec<(&'static str, u32)>,
}

/// The role keys whose ids GGUF metadata may name.
pub(crate) fn role_keys() -> impl Iterator<Item = &'static str> {
    ROLES.iter().map(|r| r.key)
}

/// Marks as control every token llama.cpp treats as control by its text, and returns the
/// end-of-generation ids, sorted.
pub(crate) fn promote_and_find_end_of_generation(tokens: &mut [Token], named: &NamedIds) -> Vec<u32> {
    let mut eog = BTreeSet::new();
    for role in ROLES {
        match named.roles.iter().find(|(key, _)| *key == role.key) {
            Some(&(_, id)) => {
                if role.ends_generation {
                    eog.insert(id);
                }
            }
            None => {
                for (id, token) in tokens.iter_mut().enumerate() {
                    if role.texts.contains(&token.text.as_str()) {
                        promote(token);
                        if role.ends_generation {
                            eog.insert(id as u32);
                        }
                    }
                }
            }
        }
    }
    for (id, token) in tokens.iter_mut().enumerate() {
        if END_OF_GENERATION_TEXTS.contains(&token.text.as_str()) {
            promote(token);
            eog.insert(id as u32);
        }
    }
    eog.extend(named.eos);
    eog.into_iter().collect()
}

fn promote(token: &mut Token) {
    if !token.kind.is_special() {
        token.kind = TokenKind::Control;
    }
}
