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
        assert_eq!(tokenizer.encode(text, true).unwrap(), ids(&case["ids"]), "{golden_name}: special parsing of {text:?}");
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
