//! GGUF-built tokenizers against llama.cpp's own tokenization of the same GGUF vocabulary.

mod common;

use common::*;
use selene_gguf::Value as GgufValue;
use selene_tokenizer::Tokenizer;

fn check_against(golden_name: &str, tokenizer: &Tokenizer) {
    let golden = golden(golden_name);
    assert_all_equal(golden_name, corpus(), golden["plain"].as_array().unwrap(), |s| {
        tokenizer.encode(s, false).unwrap()
    });
    for case in golden["special"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            tokenizer.encode(text, true).unwrap(),
            ids(&case["ids"]),
            "{golden_name}: special parsing of {text:?}"
        );
    }
    let vocab = &golden["vocab"];
    assert_eq!(tokenizer.vocab_size() as u64, vocab["n_vocab"].as_u64().unwrap());
    assert_eq!(tokenizer.bos_id().map(u64::from), vocab["bos"].as_u64());
    assert_eq!(tokenizer.eos_id().map(u64::from), vocab["eos"].as_u64());
    assert_eq!(tokenizer.add_bos(), vocab["add_bos"].as_bool().unwrap());
    assert_eq!(tokenizer.end_of_generation_ids(), ids(&vocab["eog"]), "{golden_name}: end-of-generation ids");
}

#[test]
fn smollm2_matches_llama_cpp() {
    check_against("smollm2_llamacpp.json", smollm2());
}

/// The same vocabulary relabelled with other `tokenizer.ggml.pre` values, tokenized by llama.cpp
/// from a copy of the file; here the metadata is relabelled in memory.
#[test]
fn other_pre_tokenizers_match_llama_cpp() {
    for (pre, golden_name) in [
        ("gpt-2", "smollm2_pre_gpt_2_llamacpp.json"),
        ("default", "smollm2_pre_default_llamacpp.json"),
        ("llama-bpe", "smollm2_pre_llama_bpe_llamacpp.json"),
    ] {
        let mut metadata = smollm2_metadata();
        metadata.set("tokenizer.ggml.pre", GgufValue::String(pre.to_owned()));
        check_against(golden_name, &Tokenizer::from_gguf(&metadata).unwrap());
    }
}

/// Llama 3.1's vocabulary as llama.cpp's `convert_hf_to_gguf.py --vocab-only` writes it. The
/// golden keeps the converter's scalar metadata and digests of its token and merge lists; the
/// lists are rebuilt here from tokenizer.json and must match the digests byte for byte.
#[test]
fn llama31_gguf_matches_llama_cpp() {
    use selene_gguf::{Array, Metadata};
    use sha2::{Digest, Sha256};

    let golden = golden("llama31_gguf_llamacpp.json");
    let (json, _) = llama31_files();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let mut tokens = vec![String::new(); golden["arrays"]["n_tokens"].as_u64().unwrap() as usize];
    for (text, id) in json["model"]["vocab"].as_object().unwrap() {
        tokens[id.as_u64().unwrap() as usize] = text.clone();
    }
    for added in json["added_tokens"].as_array().unwrap() {
        tokens[added["id"].as_u64().unwrap() as usize] = added["content"].as_str().unwrap().to_owned();
    }
    let merges: Vec<String> = json["model"]["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| match m {
            serde_json::Value::String(s) => s.clone(),
            pair => format!("{} {}", pair[0].as_str().unwrap(), pair[1].as_str().unwrap()),
        })
        .collect();
    let digest = |items: &[String]| format!("{:x}", Sha256::digest(items.join("\0").as_bytes()));
    assert_eq!(digest(&tokens), golden["arrays"]["tokens_sha256"].as_str().unwrap());
    assert_eq!(digest(&merges), golden["arrays"]["merges_sha256"].as_str().unwrap());
    let types: Vec<i32> = golden["arrays"]["token_type_runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|run| std::iter::repeat_n(run[0].as_i64().unwrap() as i32, run[1].as_u64().unwrap() as usize))
        .collect();

    let mut metadata = Metadata::new("llama31-vocab.gguf");
    for (key, value) in golden["metadata"].as_object().unwrap() {
        let value = match value {
            serde_json::Value::Bool(b) => GgufValue::Bool(*b),
            serde_json::Value::Number(n) => GgufValue::U32(n.as_u64().unwrap() as u32),
            serde_json::Value::String(s) => GgufValue::String(s.clone()),
            other => panic!("{key}: unexpected {other}"),
        };
        metadata.set(key.clone(), value);
    }
    metadata.set("tokenizer.ggml.tokens", GgufValue::Array(Array::String(tokens)));
    metadata.set("tokenizer.ggml.token_type", GgufValue::Array(Array::I32(types)));
    metadata.set("tokenizer.ggml.merges", GgufValue::Array(Array::String(merges)));
    let tokenizer = Tokenizer::from_gguf(&metadata).unwrap();
    check_against("llama31_gguf_llamacpp.json", &tokenizer);

    // The same vocabulary through tokenizer.json encodes the same way.
    for text in corpus().iter().step_by(5) {
        assert_eq!(tokenizer.encode(text, false).unwrap(), llama31().encode(text, false).unwrap(), "{text:?}");
    }
}

/// Llama 2's SentencePiece vocabulary (`tokenizer.ggml.model` = `llama`), as llama.cpp converts
/// it to a vocabulary-only GGUF (written at test time, byte for byte that conversion).
#[test]
fn llama2_sentencepiece_matches_llama_cpp() {
    check_against("llama2_llamacpp.json", llama2());
}
