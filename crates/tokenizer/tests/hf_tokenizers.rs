//! Llama 3.1's tokenizer.json against Hugging Face `tokenizers` (Python).
//!
//! Plain text is compared with `tokenizers` run with `encode_special_tokens = True`: the added
//! special tokens are not matched, so `<|eot_id|>` in a string is encoded as the characters it
//! is made of, which is what data must encode to. On top, no id of an added special token
//! (128000 and up) may appear. Template strings are compared with `tokenizers`' default
//! behaviour, which matches special tokens.

mod common;

use common::*;

#[test]
fn llama31_matches_hf_tokenizers() {
    let tokenizer = llama31();
    let golden = golden("llama31_hf.json");
    assert_all_equal("llama31_hf.json", corpus(), golden["plain"].as_array().unwrap(), |s| {
        let ids = tokenizer.encode(s, false).unwrap();
        assert!(ids.iter().all(|&id| id < 128000), "special id from data {s:?}: {ids:?}");
        ids
    });
    for case in golden["special"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        assert_eq!(tokenizer.encode(text, true).unwrap(), ids(&case["ids"]), "special parsing of {text:?}");
    }
}

#[test]
fn llama31_special_ids() {
    let tokenizer = llama31();
    assert_eq!(tokenizer.bos_id(), Some(128000));
    assert_eq!(tokenizer.eos_id(), Some(128009));
    assert!(tokenizer.add_bos());
    // <|end_of_text|> and <|eot_id|>. This tokenizer.json names id 128008
    // <|reserved_special_token_4|> (Llama 3's naming), so <|eom_id|> is not in it.
    assert_eq!(tokenizer.token_text(128008), Some("<|reserved_special_token_4|>"));
    assert_eq!(tokenizer.end_of_generation_ids(), [128001, 128009]);
}
