//! Loading the real tokenizers and the committed goldens (tools/reference/tokenizer_goldens.py).

#![allow(dead_code)] // each test binary uses its own part

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use selene_tokenizer::Tokenizer;
use serde_json::Value;
use sha2::{Digest, Sha256};

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

/// Llama 2's vocabulary-only GGUF, which `tests/golden/make_llama2_vocab.py` writes from the
/// fetched tokenizer.json (a model file is not committed). Its sha256 must be that of llama.cpp's
/// own conversion of the same files, so the llama.cpp goldens hold for it.
pub fn llama2() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/make_llama2_vocab.py");
        let tokenizer_json = selene_fixtures::llama2_tokenizer();
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("llama2_vocab-{}.gguf", std::process::id()));
        let status = Command::new("python3").arg(&script).arg(tokenizer_json.parent().unwrap()).arg(&out).status();
        assert!(status.is_ok_and(|s| s.success()), "python3 {} failed", script.display());
        let bytes = std::fs::read(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        let llama_cpp = golden("llama2_llamacpp.json")["gguf_sha256"].as_str().unwrap().to_owned();
        assert_eq!(
            format!("{:x}", Sha256::digest(&bytes)),
            llama_cpp,
            "{} wrote another file than llama.cpp's convert_hf_to_gguf.py --vocab-only",
            script.display()
        );
        let header = selene_gguf::Header::read(&bytes[..], "llama2_vocab.gguf").unwrap();
        Tokenizer::from_gguf(&header.metadata).unwrap()
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
