//! A tokenizer from GGUF `tokenizer.ggml.*` metadata, built to tokenize as llama.cpp does.
//!
//! Two vocabulary types, as `tokenizer.ggml.model` names them:
//! * `gpt2`: byte-level BPE with `tokenizer.ggml.merges` and the word split that
//!   `tokenizer.ggml.pre` names (Llama 3, SmolLM2, GPT-2).
//! * `llama`: SentencePiece BPE driven by `tokenizer.ggml.scores`, with `▁` for spaces, a space in
//!   front of the text and byte fallback (Llama 2, Mistral, TinyLlama); see [`crate::sentencepiece`]
//!   for why this one does not go through Hugging Face `tokenizers`.
//!
//! Control tokens are left out of the Hugging Face model on purpose: that model only ever sees
//! plain text, so no text can turn into a control token there; templates get control tokens
//! through [`crate::Tokenizer::encode_segments`] alone.

use std::collections::{HashMap, HashSet};

use selene_gguf::keys::tokenizer::{
    ADD_BOS, ADD_SPACE_PREFIX, BOS_ID, CHAT_TEMPLATE, EOS_ID, MERGES, MODEL, PRE, SCORES, TOKEN_TYPE, TOKENS,
};
use selene_gguf::{Array, Metadata};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::{AddedToken, Tokenizer as HfTokenizer};

use crate::decode::Spelling;
use crate::error::{Error, Result};
use crate::pretokenize::PreTokenizer;
use crate::sentencepiece::SentencePiece;
use crate::tokenizer::{Parts, PlainEncoder, Tokenizer};
use crate::vocab::{NamedIds, Token, TokenKind, role_keys};

pub(crate) fn tokenizer_from_gguf(metadata: &Metadata) -> Result<Tokenizer> {
    let model = metadata.require_str(MODEL)?;
    let mut tokens = read_tokens(metadata)?;
    let n = tokens.len();
    let (encoder, spelling, defaults) = match model {
        "gpt2" => {
            let pre = PreTokenizer::from_name(metadata.optional_str(PRE)?)?;
            let encoder = Encoder::Hf(Box::new(byte_level_bpe(metadata, &tokens, pre)?));
            let defaults = Defaults { bos: Some(11), eos: Some(11), add_bos: pre.adds_bos_by_default() };
            (encoder, Spelling::ByteLevel, defaults)
        }
        "llama" => {
            let add_space_prefix = metadata.optional_bool(ADD_SPACE_PREFIX)?.unwrap_or(true);
            let scores = read_scores(metadata, n)?;
            let defaults = Defaults { bos: Some(1), eos: Some(2), add_bos: true };
            (
                Encoder::SentencePiece(scores, add_space_prefix),
                Spelling::SentencePiece { strip_first_space: add_space_prefix },
                defaults,
            )
        }
        other => {
            return Err(Error::metadata(
                MODEL,
                format!("unsupported tokenizer model {other:?} (supported: gpt2, llama)"),
            ));
        }
    };
    let in_vocab = |id: u32| ((id as usize) < n).then_some(id);
    let named = NamedIds {
        bos: optional_id(metadata, BOS_ID, n)?.or(defaults.bos.and_then(in_vocab)),
        eos: optional_id(metadata, EOS_ID, n)?.or(defaults.eos.and_then(in_vocab)),
        roles: role_keys()
            .map(|key| Ok(optional_id(metadata, key, n)?.map(|id| (key, id))))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect(),
    };
    let add_bos = metadata.optional_bool(ADD_BOS)?.unwrap_or(defaults.add_bos);
    let chat_template = metadata.optional_str(CHAT_TEMPLATE)?.map(str::to_owned);
    // Mark the tokens llama.cpp recognizes as control before the encoder is finished, so that
    // user-defined tokens promoted to control are not matched in plain text.
    let eog = crate::vocab::promote_and_find_end_of_generation(&mut tokens, &named);
    let encoder = match encoder {
        Encoder::Hf(hf) => PlainEncoder::Hf(Box::new(with_user_defined_tokens(*hf, &tokens)?)),
        Encoder::SentencePiece(scores, add_space_prefix) => {
            PlainEncoder::SentencePiece(SentencePiece::new(&tokens, scores, add_space_prefix)?)
        }
    };
    Tokenizer::assemble(Parts { encoder, tokens, spelling, named, eog, add_bos, chat_template })
}

/// The encoder, before the token kinds are final.
enum Encoder {
    Hf(Box<HfTokenizer>),
    /// Scores and whether a space goes in front of the text.
    SentencePiece(Vec<f32>, bool),
}

/// llama.cpp's defaults for ids and flags the metadata leaves out.
struct Defaults {
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
}

fn read_tokens(metadata: &Metadata) -> Result<Vec<Token>> {
    let Array::String(texts) = metadata.require_array(TOKENS)? else {
        return Err(Error::metadata(TOKENS, "must be an array of strings"));
    };
    if texts.is_empty() {
        return Err(Error::metadata(TOKENS, "is empty"));
    }
    let kinds: Vec<TokenKind> = match metadata.get(TOKEN_TYPE) {
        None => vec![TokenKind::Normal; texts.len()],
        Some(_) => match metadata.require_array(TOKEN_TYPE)? {
            Array::I32(codes) if codes.len() >= texts.len() => codes.iter().map(|&c| TokenKind::from_gguf(c)).collect(),
            Array::I32(codes) => {
                return Err(Error::metadata(
                    TOKEN_TYPE,
                    format!("has {} entries for {} tokens", codes.len(), texts.len()),
                ));
            }
            other => {
                return Err(Error::metadata(
                    TOKEN_TYPE,
                    format!("must be an array of i32, not of {}", other.element_type().name()),
                ));
            }
        },
    };
    let mut seen = HashMap::with_capacity(texts.len());
    let mut tokens = Vec::with_capacity(texts.len());
    for (id, (text, kind)) in texts.iter().zip(kinds).enumerate() {
        // llama.cpp renames empty tokens so that every text names one id.
        let text = if text.is_empty() { format!("[EMPTY_{id}]") } else { text.clone() };
        if let Some(first) = seen.insert(text.clone(), id) {
            return Err(Error::metadata(TOKENS, format!("token {id} repeats token {first} ({text:?})")));
        }
        tokens.push(Token { text, kind });
    }
    Ok(tokens)
}

fn optional_id(metadata: &Metadata, key: &str, n: usize) -> Result<Option<u32>> {
    match metadata.optional_u64(key)? {
        None => Ok(None),
        Some(id) if (id as usize) < n => Ok(Some(id as u32)),
        Some(id) => Err(Error::metadata(key, format!("token id {id} is outside the vocabulary of {n} tokens"))),
    }
}

/// The vocabulary the Hugging Face model may produce: every token but control and unknown ones.
fn plain_vocab(tokens: &[Token]) -> Vocab {
    tokens.iter().enumerate().filter(|(_, t)| !t.kind.is_special()).map(|(id, t)| (t.text.clone(), id as u32)).collect()
}

fn byte_level_bpe(metadata: &Metadata, tokens: &[Token], pre: PreTokenizer) -> Result<HfTokenizer> {
    let Array::String(lines) = metadata.require_array(MERGES)? else {
        return Err(Error::metadata(MERGES, "must be an array of strings"));
    };
    let vocab = plain_vocab(tokens);
    let mut seen = HashSet::with_capacity(lines.len());
    let mut merges = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        // llama.cpp splits at the first space after the first byte, and keeps the first rank
        // of a repeated merge.
        let Some(at) = line.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1) else {
            return Err(Error::metadata(
                MERGES,
                format!("merge {i} ({line:?}) is not two tokens separated by a space"),
            ));
        };
        let (left, right) = (&line[..at], &line[at + 1..]);
        // A merge that involves a token the model cannot produce (control tokens) never applies.
        let merged = format!("{left}{right}");
        if !(vocab.contains_key(left) && vocab.contains_key(right) && vocab.contains_key(&merged)) {
            continue;
        }
        if seen.insert((left, right)) {
            merges.push((left.to_owned(), right.to_owned()));
        }
    }
    let model = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(pre.ignores_merges())
        .build()
        .map_err(Error::tokenizers)?;
    let mut encoder = HfTokenizer::new(model);
    encoder.with_pre_tokenizer(Some(pre.build()?));
    Ok(encoder)
}

fn read_scores(metadata: &Metadata, n: usize) -> Result<Vec<f32>> {
    match metadata.require_array(SCORES)? {
        Array::F32(s) if s.len() >= n => Ok(s.clone()),
        Array::I32(s) if s.len() >= n => Ok(s.iter().map(|&v| v as f32).collect()),
        Array::F32(_) | Array::I32(_) => Err(Error::metadata(SCORES, format!("has fewer entries than the {n} tokens"))),
        other => {
            Err(Error::metadata(SCORES, format!("must be an array of f32, not of {}", other.element_type().name())))
        }
    }
}

/// User-defined tokens are matched in any text before the model runs, as llama.cpp does even
/// when it does not parse special tokens.
fn with_user_defined_tokens(mut encoder: HfTokenizer, tokens: &[Token]) -> Result<HfTokenizer> {
    let added: Vec<AddedToken> = tokens
        .iter()
        .filter(|t| t.kind == TokenKind::UserDefined)
        .map(|t| AddedToken::from(t.text.clone(), false).normalized(false))
        .collect();
    if !added.is_empty() {
        encoder.add_tokens(added).map_err(Error::tokenizers)?;
    }
    Ok(encoder)
}
