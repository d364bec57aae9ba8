//! Bad metadata is refused with an error that names the field, never a panic.

mod common;

use common::*;
use selene_gguf::{Array, Value};
use selene_tokenizer::Tokenizer;

fn error_with(change: impl FnOnce(&mut selene_gguf::Metadata)) -> String {
    let mut metadata = smollm2_metadata();
    change(&mut metadata);
    Tokenizer::from_gguf(&metadata).unwrap_err().to_string()
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{message:?} does not mention {part:?}");
    }
}

#[test]
fn missing_and_mistyped_fields_are_named() {
    let e = error_with(|m| drop(m.remove("tokenizer.ggml.merges")));
    assert_mentions(&e, &["tokenizer.ggml.merges", "missing"]);
    let e = error_with(|m| drop(m.remove("tokenizer.ggml.tokens")));
    assert_mentions(&e, &["tokenizer.ggml.tokens", "missing"]);
    let e = error_with(|m| drop(m.remove("tokenizer.ggml.model")));
    assert_mentions(&e, &["tokenizer.ggml.model", "missing"]);
    let e = error_with(|m| m.set("tokenizer.ggml.merges", Value::U32(3)));
    assert_mentions(&e, &["tokenizer.ggml.merges"]);
    let e = error_with(|m| m.set("tokenizer.ggml.tokens", Value::Array(Array::I32(vec![1, 2]))));
    assert_mentions(&e, &["tokenizer.ggml.tokens", "strings"]);
    let e = error_with(|m| m.set("tokenizer.ggml.token_type", Value::Array(Array::I32(vec![1; 10]))));
    assert_mentions(&e, &["tokenizer.ggml.token_type", "10 entries"]);
    let e = error_with(|m| m.set("tokenizer.ggml.merges", Value::Array(Array::String(vec!["nospace".into()]))));
    assert_mentions(&e, &["tokenizer.ggml.merges", "nospace"]);
}

#[test]
fn unusable_values_are_named() {
    let e = error_with(|m| m.set("tokenizer.ggml.model", Value::String("t5".into())));
    assert_mentions(&e, &["tokenizer.ggml.model", "t5"]);
    let e = error_with(|m| m.set("tokenizer.ggml.pre", Value::String("qwen2".into())));
    assert_mentions(&e, &["tokenizer.ggml.pre", "qwen2"]);
    let e = error_with(|m| m.set("tokenizer.ggml.eos_token_id", Value::U32(1 << 30)));
    assert_mentions(&e, &["tokenizer.ggml.eos_token_id", "outside the vocabulary"]);
    let e = error_with(|m| {
        let Some(Value::Array(Array::String(tokens))) = m.get("tokenizer.ggml.tokens").cloned() else { unreachable!() };
        let mut tokens = tokens;
        tokens[5] = tokens[6].clone();
        m.set("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
    });
    assert_mentions(&e, &["tokenizer.ggml.tokens", "repeats"]);
    let e = error_with(|m| m.set("tokenizer.ggml.model", Value::String("llama".into())));
    assert_mentions(&e, &["tokenizer.ggml.scores", "missing"]);
}

#[test]
fn bad_json_is_named() {
    let e = Tokenizer::from_tokenizer_json(b"{not json", None).unwrap_err().to_string();
    assert_mentions(&e, &["tokenizer.json"]);
    let (json, _) = llama31_files();
    let e = Tokenizer::from_tokenizer_json(&json, Some(b"{\"bos_token\": \"<nope>\"}")).unwrap_err().to_string();
    assert_mentions(&e, &["tokenizer_config.json", "bos_token", "<nope>"]);
}
