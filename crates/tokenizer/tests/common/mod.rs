//! Loading the real tokenizers and the committed goldens (tools/reference/tokenizer_goldens.py).

#![allow(dead_code)] // each test binary uses its own part

use std::path::PathBuf;
use std::sync::OnceLock;

use selene_tokenizer::Tokenizer;
use serde_json::Value;

pub fn golden(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn corpus() -> &'static [String] {
    static CORPUS: OnceLock<Vec<String>> = OnceLock::new();
    CORPUS.get_or_init(|| serde_json::from_value(golden("corpus.json")["strings"].clone()).unwrap())
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

pub fn smollm2_metadata() -> selene_gguf::Metadata {
    selene_gguf::GgufModel::open(selene_fixtures::smollm2()).unwrap().metadata().clone()
}

pub fn smollm2() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| Tokenizer::from_gguf(&smollm2_metadata()).unwrap())
}

pub fn llama2() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/llama2_vocab.gguf");
        Tokenizer::from_gguf(selene_gguf::GgufModel::open(path).unwrap().metadata()).unwrap()
    })
}

pub fn llama31_files() -> (Vec<u8>, Vec<u8>) {
    let json = selene_fixtures::llama31_tokenizer();
    let config = json.with_file_name("tokenizer_config.json");
    (std::fs::read(&json).unwrap(), std::fs::read(config).unwrap())
}

pub fn llama31() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let (json, config) = llama31_files();
        Tokenizer::from_tokenizer_json(&json, Some(&config)).unwrap()
    })
}

/// Compares every string; reports the first few mismatches with their text.
pub fn assert_all_equal(what: &str, texts: &[String], expected: &[Value], actual: impl Fn(&str) -> Vec<u32>) {
    assert_eq!(texts.len(), expected.len(), "{what}: golden has another corpus size");
    let mut failures = Vec::new();
    for (text, want) in texts.iter().zip(expected) {
        let got = actual(text);
        if got != ids(want) {
            failures.push(format!("  {text:?}\n    want {:?}\n    got  {got:?}", ids(want)));
        }
    }
    assert!(
        failures.is_empty(),
        "{what}: {} of {} strings differ:\n{}",
        failures.len(),
        texts.len(),
        failures.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
}
