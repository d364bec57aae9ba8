//! A tokenizer from Hugging Face `tokenizer.json` (+ `tokenizer_config.json`), encoding exactly
//! as the `tokenizers` library does.
//!
//! The file's own pipeline (normalizer, pre-tokenizer, model, added tokens) encodes; this module
//! only reads what the pipeline does not say: which added tokens are special, how token texts
//! spell bytes (for decoding), and from the config the chat template, BOS and EOS.

use serde_json::Value;
use tokenizers::Tokenizer as HfTokenizer;

use crate::decode::Spelling;
use crate::error::{Error, Result};
use crate::tokenizer::{Parts, PlainEncoder, Tokenizer};
use crate::vocab::{NamedIds, Token, TokenKind, promote_and_find_end_of_generation};

const JSON: &str = "tokenizer.json";
const CONFIG: &str = "tokenizer_config.json";

pub(crate) fn tokenizer_from_json(tokenizer_json: &[u8], config_json: Option<&[u8]>) -> Result<Tokenizer> {
    let json: Value = serde_json::from_slice(tokenizer_json).map_err(|e| json_error(JSON, e))?;
    let spelling = spelling(&json)?;
    let post_processor = json.get("post_processor").cloned().unwrap_or(Value::Null);
    let encoder: HfTokenizer = serde_json::from_value(json).map_err(|e| json_error(JSON, e))?;
    let config: Value = match config_json {
        Some(bytes) => serde_json::from_slice(bytes).map_err(|e| json_error(CONFIG, e))?,
        None => Value::Null,
    };

    let mut tokens = read_tokens(&encoder, spelling)?;
    let id_of = |key: &str| -> Result<Option<u32>> {
        let Some(text) = token_setting(&config, key) else { return Ok(None) };
        let id = tokens.iter().position(|t| t.text == text);
        id.map(|id| Some(id as u32))
            .ok_or_else(|| Error::Json { file: CONFIG, why: format!("{key} {text:?} is not in the vocabulary") })
    };
    let named = NamedIds { bos: id_of("bos_token")?, eos: id_of("eos_token")?, roles: Vec::new() };
    let add_bos = match config.get("add_bos_token") {
        Some(Value::Bool(b)) => *b,
        _ => named.bos.is_some_and(|bos| post_processor_starts_with(&post_processor, &tokens[bos as usize].text)),
    };
    let chat_template = chat_template(&config)?;
    let eog = promote_and_find_end_of_generation(&mut tokens, &named);
    Tokenizer::assemble(Parts {
        encoder: PlainEncoder::Hf(Box::new(encoder)),
        tokens,
        spelling,
        named,
        eog,
        add_bos,
        chat_template,
    })
}

fn json_error(file: &'static str, e: impl std::fmt::Display) -> Error {
    Error::Json { file, why: e.to_string() }
}

/// Every id's text and kind; ids must run from 0 without gaps.
fn read_tokens(encoder: &HfTokenizer, spelling: Spelling) -> Result<Vec<Token>> {
    let vocab = encoder.get_vocab(true);
    let mut texts = vec![None; vocab.len()];
    for (text, id) in vocab {
        match texts.get_mut(id as usize) {
            Some(slot) => *slot = Some(text),
            None => {
                return Err(Error::Json {
                    file: JSON,
                    why: format!("token {text:?} has id {id}, past the vocabulary"),
                });
            }
        }
    }
    let added = encoder.get_added_tokens_decoder();
    texts
        .into_iter()
        .enumerate()
        .map(|(id, text)| {
            let text = text.ok_or_else(|| Error::Json { file: JSON, why: format!("no token has id {id}") })?;
            let kind = match added.get(&(id as u32)) {
                Some(token) if token.special => TokenKind::Control,
                Some(_) => TokenKind::UserDefined,
                None if spelling != Spelling::ByteLevel && is_byte_token(&text) => TokenKind::Byte,
                None => TokenKind::Normal,
            };
            Ok(Token { text, kind })
        })
        .collect()
}

fn is_byte_token(text: &str) -> bool {
    text.len() == 6 && text.starts_with("<0x") && text.ends_with('>')
}

/// How the decoder of the file turns token texts back into bytes.
fn spelling(json: &Value) -> Result<Spelling> {
    let decoder = json.get("decoder").unwrap_or(&Value::Null);
    let kind = |d: &Value| d.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    let parts: Vec<&Value> = match kind(decoder).as_str() {
        "Sequence" => decoder.get("decoders").and_then(Value::as_array).map(|v| v.iter().collect()).unwrap_or_default(),
        _ => vec![decoder],
    };
    let kinds: Vec<String> = parts.iter().map(|d| kind(d)).collect();
    if kinds.iter().any(|k| k == "ByteLevel") {
        return Ok(Spelling::ByteLevel);
    }
    if kinds.iter().any(|k| k == "ByteFallback" || k == "Metaspace") {
        let strips = parts.iter().any(|d| {
            (kind(d) == "Strip" && d.get("start").and_then(Value::as_u64).unwrap_or(0) > 0)
                || (kind(d) == "Metaspace" && d.get("prepend_scheme").and_then(Value::as_str) != Some("never"))
        });
        return Ok(Spelling::SentencePiece { strip_first_space: strips });
    }
    Err(Error::Json {
        file: JSON,
        why: format!("unsupported decoder {kinds:?} (supported: ByteLevel, SentencePiece byte fallback)"),
    })
}

/// `bos_token` / `eos_token` of the config: a string, or an object with `content`.
fn token_setting<'a>(config: &'a Value, key: &str) -> Option<&'a str> {
    match config.get(key)? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("content").and_then(Value::as_str),
        _ => None,
    }
}

/// Whether the post-processor puts `bos` in front of a single sequence (how `tokenizers` knows
/// to add BOS when the config does not say).
fn post_processor_starts_with(post_processor: &Value, bos: &str) -> bool {
    match post_processor.get("type").and_then(Value::as_str) {
        Some("Sequence") => post_processor
            .get("processors")
            .and_then(Value::as_array)
            .is_some_and(|ps| ps.iter().any(|p| post_processor_starts_with(p, bos))),
        Some("TemplateProcessing") => {
            post_processor.pointer("/single/0/SpecialToken/id").and_then(Value::as_str).is_some_and(|id| id == bos)
        }
        _ => false,
    }
}

/// `chat_template`: a string, or a list of named templates of which `default` is the one.
fn chat_template(config: &Value) -> Result<Option<String>> {
    match config.get("chat_template") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(named)) => Ok(named
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .and_then(|t| t.get("template"))
            .and_then(Value::as_str)
            .map(str::to_owned)),
        Some(_) => {
            Err(Error::Json { file: CONFIG, why: "chat_template must be a string or a list of named templates".into() })
        }
    }
}
