//! The tokenizer as llama.cpp's converter records it for a byte-level BPE (`gpt2`) vocabulary.
//!
//! llama.cpp cannot run a tokenizer from `tokenizer.json`; it needs the vocabulary, the token
//! types, the merges, the special ids, whether to add BOS, and the name of the pre-tokenizer it
//! should emulate. The converter names the pre-tokenizer by hashing the token ids of a fixed test
//! text: the same hash is computed here with the `tokenizers` library (the one transformers uses),
//! so a tokenizer llama.cpp does not know is refused exactly as the converter refuses it. Special
//! ids and `add_*_token` flags follow gguf-py's `SpecialVocab`, which reads `tokenizer.json`'s
//! post-processor, then `tokenizer_config.json`, then `config.json`, first answer winning.

use std::path::Path;

use selene_gguf::keys::tokenizer;
use selene_gguf::{Array, Value};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, read_json};

/// llama.cpp token types (`llama_token_type`).
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;

/// The text whose token ids name the pre-tokenizer (llama.cpp's `chktxt`).
const CHECK_TEXT: &str = "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u{200d}🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL";

/// Pre-tokenizers llama.cpp implements, by the sha256 of `str(ids)` of [`CHECK_TEXT`] (from
/// llama.cpp's `convert_hf_to_gguf_update.py` registry), for the tokenizers Llama-architecture
/// checkpoints ship.
const KNOWN_PRE_TOKENIZERS: &[(&str, &str)] = &[
    ("0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5", "llama-bpe"),
    ("855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249", "smollm"),
    ("049ecf7629871e3041641907f3de7c733e4dbfdc736f57d882ba0b0845599754", "deepseek-llm"),
    ("63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e", "tekken"),
];

/// Special token kinds in the order `SpecialVocab` visits them, with their GGUF id key and the
/// `add_<kind>_token` key of those gguf-py writes a flag for.
const SPECIAL_KINDS: &[(&str, Option<&str>, Option<&str>)] = &[
    ("bos", Some(tokenizer::BOS_ID), Some(tokenizer::ADD_BOS)),
    ("eos", Some(tokenizer::EOS_ID), Some(tokenizer::ADD_EOS)),
    ("unk", Some(tokenizer::UNK_ID), None),
    ("sep", Some(tokenizer::SEP_ID), Some(tokenizer::ADD_SEP)),
    ("pad", Some(tokenizer::PAD_ID), None),
    ("cls", None, None),
    ("mask", Some(tokenizer::MASK_ID), None),
    ("eot", Some(tokenizer::EOT_ID), None),
    ("eom", Some(tokenizer::EOM_ID), None),
];

/// Tokenizer metadata entries, in the order the converter writes them.
pub fn metadata(dir: &Path, n_vocab: usize, config: &Json) -> Result<Vec<(&'static str, Value)>> {
    let tokenizer_path = dir.join("tokenizer.json");
    let tokenizer_bytes = std::fs::read(&tokenizer_path).map_err(|e| Error::new(&tokenizer_path, "open", e))?;
    let tokenizer: Json =
        serde_json::from_slice(&tokenizer_bytes).map_err(|e| Error::new(&tokenizer_path, "JSON", e))?;
    let config_path = dir.join("tokenizer_config.json");
    let mut tokenizer_config = if config_path.is_file() { Some(read_json(&config_path)?) } else { None };

    let mut out = Vec::new();
    if let Some(add_prefix) = tokenizer_config.as_ref().and_then(|c| c.get("add_prefix_space")).and_then(Json::as_bool)
    {
        out.push((tokenizer::ADD_SPACE_PREFIX, Value::Bool(add_prefix)));
    }
    let pre = pre_tokenizer(&tokenizer_path, &tokenizer_bytes)?;
    let (tokens, types) = tokens(&tokenizer_path, &tokenizer, n_vocab)?;
    out.push((tokenizer::MODEL, Value::String("gpt2".into())));
    out.push((tokenizer::PRE, Value::String(pre.into())));
    out.push((tokenizer::TOKENS, Value::Array(Array::String(tokens))));
    out.push((tokenizer::TOKEN_TYPE, Value::Array(Array::I32(types))));
    let merges = merges(&tokenizer_path, &tokenizer)?;
    if merges.is_empty() {
        return Err(Error::new(
            &tokenizer_path,
            "model.merges",
            "missing: llama.cpp needs merges for a BPE vocabulary",
        ));
    }
    out.push((tokenizer::MERGES, Value::Array(Array::String(merges))));

    let mut special = SpecialVocab::default();
    special.read_post_processor(&tokenizer, tokenizer_config.as_mut());
    if let Some(tc) = &tokenizer_config {
        special.read_tokenizer_config(&tokenizer, tc);
    }
    special.read_config(config);
    // llama.cpp's converter turns BOS off for every 49152-token Llama vocabulary (a rule meant
    // for Granite that also catches SmolLM2).
    if n_vocab == 49152 {
        special.set_flag("bos", false);
    }
    for (kind, id) in &special.ids {
        if let Some((_, Some(key), _)) = SPECIAL_KINDS.iter().find(|(k, _, _)| k == kind) {
            out.push((key, Value::U32(*id)));
        }
    }
    for (kind, value) in &special.flags {
        let (_, _, key) = SPECIAL_KINDS.iter().find(|(k, _, _)| k == kind).expect("flags are set for known kinds");
        out.push((key.expect("flags are set for kinds that write one"), Value::Bool(*value)));
    }
    if let Some(template) = chat_template(dir, tokenizer_config.as_ref())? {
        out.push((tokenizer::CHAT_TEMPLATE, Value::String(template)));
    }
    Ok(out)
}

fn pre_tokenizer(path: &Path, bytes: &[u8]) -> Result<&'static str> {
    let tokenizer = tokenizers::Tokenizer::from_bytes(bytes)
        .map_err(|e| Error::new(path, "tokenizer", format!("cannot load: {e}")))?;
    let encoding = tokenizer
        .encode(CHECK_TEXT, true)
        .map_err(|e| Error::new(path, "tokenizer", format!("cannot encode the check text: {e}")))?;
    let ids: Vec<String> = encoding.get_ids().iter().map(u32::to_string).collect();
    let hash = format!("{:x}", Sha256::digest(format!("[{}]", ids.join(", "))));
    KNOWN_PRE_TOKENIZERS.iter().find(|(h, _)| *h == hash).map(|(_, name)| *name).ok_or_else(|| {
        Error::new(
            path,
            "pre_tokenizer",
            format!("this BPE pre-tokenizer is not one llama.cpp implements for Llama models (check hash {hash})"),
        )
    })
}

/// Token strings and types by id, holes named `[PAD<id>]` (token strings must be unique).
fn tokens(path: &Path, tokenizer: &Json, n_vocab: usize) -> Result<(Vec<String>, Vec<i32>)> {
    let vocab = tokenizer["model"]["vocab"].as_object().ok_or_else(|| {
        Error::new(path, "model.vocab", "missing or not an object (only BPE tokenizers are supported)")
    })?;
    let mut by_id: Vec<Option<(String, i32)>> = vec![None; n_vocab];
    let mut put = |id: Option<u64>, token: &str, kind: i32, field: &str| -> Result<()> {
        let id = id.ok_or_else(|| Error::new(path, field, format!("{token:?} has no integer id")))?;
        let slot = by_id.get_mut(id as usize).ok_or_else(|| {
            Error::new(path, field, format!("{token:?} has id {id}, beyond config.json vocab_size {n_vocab}"))
        })?;
        *slot = Some((token.to_owned(), kind));
        Ok(())
    };
    for (token, id) in vocab {
        put(id.as_u64(), token, NORMAL, "model.vocab")?;
    }
    for added in tokenizer["added_tokens"].as_array().into_iter().flatten() {
        let content =
            added["content"].as_str().ok_or_else(|| Error::new(path, "added_tokens", "an entry has no content"))?;
        let kind =
            if added["special"].as_bool() == Some(true) || looks_special(content) { CONTROL } else { USER_DEFINED };
        let content = if kind == USER_DEFINED { content.replace('\u{2581}', " ") } else { content.to_owned() };
        put(added["id"].as_u64(), &content, kind, "added_tokens")?;
    }
    Ok(by_id.into_iter().enumerate().map(|(i, slot)| slot.unwrap_or_else(|| (format!("[PAD{i}]"), UNUSED))).unzip())
}

/// Added tokens that are control tokens whatever their `special` flag says.
fn looks_special(token: &str) -> bool {
    matches!(token, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (token.starts_with("<|") && token.ends_with("|>"))
        || (token.starts_with("<｜") && token.ends_with("｜>"))
        || (token.starts_with("<unused") && token.ends_with('>'))
}

/// Merges as `"a b"` strings; the newer `[a, b]` form is joined, a space inside a part written as
/// U+0120 so that llama.cpp can split at the first space.
fn merges(path: &Path, tokenizer: &Json) -> Result<Vec<String>> {
    let Some(list) = tokenizer["model"]["merges"].as_array() else { return Ok(Vec::new()) };
    list.iter()
        .map(|m| match m {
            Json::String(s) => Ok(s.clone()),
            Json::Array(pair) if pair.len() == 2 => {
                let part = |p: &Json| p.as_str().map(|s| s.replace(' ', "\u{120}"));
                match (part(&pair[0]), part(&pair[1])) {
                    (Some(a), Some(b)) => Ok(format!("{a} {b}")),
                    _ => Err(Error::new(path, "model.merges", format!("{m} is not a pair of strings"))),
                }
            }
            _ => Err(Error::new(path, "model.merges", format!("{m} is neither \"a b\" nor [a, b]"))),
        })
        .collect()
}

fn chat_template(dir: &Path, tokenizer_config: Option<&Json>) -> Result<Option<String>> {
    if let Some(t) = tokenizer_config.and_then(|c| c.get("chat_template")) {
        return match t {
            Json::String(s) => Ok(Some(s.clone())),
            Json::Array(list) => {
                Ok(list.iter().find(|c| c["name"] == "default").and_then(|c| c["template"].as_str()).map(str::to_owned))
            }
            _ => Ok(None),
        };
    }
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        return std::fs::read_to_string(&jinja).map(Some).map_err(|e| Error::new(&jinja, "read", e));
    }
    let json = dir.join("chat_template.json");
    if json.is_file() {
        return Ok(read_json(&json)?["chat_template"].as_str().map(str::to_owned));
    }
    Ok(None)
}

/// gguf-py's `SpecialVocab` decisions, in insertion order.
#[derive(Default)]
struct SpecialVocab {
    ids: Vec<(String, u32)>,
    flags: Vec<(String, bool)>,
    extra_kinds: Vec<&'static str>,
}

impl SpecialVocab {
    fn set_id(&mut self, kind: &str, id: u64) {
        if !self.ids.iter().any(|(k, _)| k == kind) {
            self.ids.push((kind.to_owned(), id as u32));
        }
    }

    fn set_flag(&mut self, kind: &str, value: bool) {
        match self.flags.iter_mut().find(|(k, _)| k == kind) {
            Some(entry) => entry.1 = value,
            None => self.flags.push((kind.to_owned(), value)),
        }
    }

    fn default_flag(&mut self, kind: &str, value: bool) {
        if !self.flags.iter().any(|(k, _)| k == kind) {
            self.flags.push((kind.to_owned(), value));
        }
    }

    fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        SPECIAL_KINDS[..7].iter().map(|(k, _, _)| *k).chain(self.extra_kinds.iter().copied())
    }

    /// What the post-processor says about adding BOS/EOS (ByteLevel: nothing added; a template
    /// that starts with BOS: BOS added, ...).
    fn read_post_processor(&mut self, tokenizer: &Json, mut tc: Option<&mut Json>) {
        let get = |tc: &Option<&mut Json>, k: &str| tc.as_ref().and_then(|c| c[k].as_str()).map(str::to_owned);
        let mut bos = get(&tc, "bos_token");
        let cls = get(&tc, "cls_token");
        let mut eos = get(&tc, "eos_token");
        let sep = get(&tc, "sep_token");
        if let Some(tc) = tc.as_deref_mut() {
            if bos.is_none() && cls.is_some() {
                tc["bos_token"] = Json::from(cls.clone());
                bos = cls.clone();
            }
            if eos.is_none() && sep.is_some() {
                tc["eos_token"] = Json::from(sep.clone());
                eos = sep.clone();
            }
        }
        let pp = &tokenizer["post_processor"];
        let processors: Vec<&Json> = match pp["processors"].as_array() {
            Some(list) => list.iter().collect(),
            None if pp.is_object() => vec![pp],
            None => vec![],
        };
        for p in processors {
            match p["type"].as_str() {
                Some("ByteLevel") => {
                    self.default_flag("bos", false);
                    self.default_flag("eos", false);
                }
                Some("RobertaProcessing") => {
                    for kind in ["bos", "eos", "sep"] {
                        self.set_flag(kind, true);
                    }
                }
                Some("TemplateProcessing") => {
                    let single = p["single"].as_array().map(Vec::as_slice).unwrap_or_default();
                    let special = |e: &Json| e["SpecialToken"]["id"].as_str().map(str::to_owned);
                    if single.len() > 1 {
                        if let Some(first) = special(&single[0]) {
                            if tc.is_none() {
                                bos = Some(first.clone());
                            }
                            let known = Some(&first) == bos.as_ref() || Some(&first) == cls.as_ref();
                            self.set_flag("bos", known);
                        }
                        if let Some(last) = special(&single[single.len() - 1]) {
                            if tc.is_none() {
                                eos = Some(last.clone());
                            } else if Some(&last) != eos.as_ref() {
                                let tc = tc.as_deref_mut().expect("checked above");
                                let fallback = if !self.extra_kinds.contains(&"eot") {
                                    Some("eot")
                                } else if !self.extra_kinds.contains(&"eom") {
                                    Some("eom")
                                } else {
                                    None
                                };
                                if let Some(kind) = fallback {
                                    self.extra_kinds.push(kind);
                                    tc[format!("{kind}_token")] = Json::from(eos.clone());
                                }
                                tc["eos_token"] = Json::from(last.clone());
                                eos = Some(last.clone());
                            }
                            self.set_flag("eos", Some(&last) == eos.as_ref());
                        }
                        self.read_pair_template(p, single, &sep, &eos);
                    }
                }
                _ => {}
            }
        }
    }

    /// The `pair` template decides `add_sep_token` (a separator between the two sequences).
    fn read_pair_template(&mut self, p: &Json, single: &[Json], sep: &Option<String>, eos: &Option<String>) {
        let special = |e: &Json| e["SpecialToken"]["id"].as_str().map(str::to_owned);
        let Some(pair) = p["pair"].as_array().filter(|a| !a.is_empty()) else { return };
        let first = special(&single[0]);
        let last = special(&single[single.len() - 1]);
        let start = usize::from(first.is_some() && special(&pair[0]) == first);
        let stop = if last.is_some() && special(&pair[pair.len() - 1]) == last { pair.len() - 1 } else { pair.len() };
        let Some(pair) = pair.get(start..stop).filter(|p| !p.is_empty()) else { return };
        let seq = |e: &Json| e["Sequence"]["id"].as_str().map(str::to_owned);
        if seq(&pair[0]).as_deref() != Some("A") || seq(&pair[pair.len() - 1]).as_deref() != Some("B") {
            return;
        }
        let middle = &pair[1..pair.len().saturating_sub(1).max(1)];
        if middle.is_empty() {
            return;
        }
        let is_sep = |e: &Json| special(e).is_some_and(|id| Some(&id) == sep.as_ref() || Some(&id) == eos.as_ref());
        let mut add_sep = is_sep(&middle[0]) && last.is_none();
        if middle.len() == 2 && is_sep(&middle[1]) {
            add_sep = true;
        }
        self.set_flag("sep", add_sep);
    }

    /// `add_<kind>_token` flags (where the post-processor said nothing) and special tokens named
    /// by content, looked up among the added tokens.
    fn read_tokenizer_config(&mut self, tokenizer: &Json, tc: &Json) {
        let added = tokenizer["added_tokens"].as_array().map(Vec::as_slice).unwrap_or_default();
        let kinds: Vec<&str> = self.kinds().collect();
        for kind in kinds {
            if let Some(flag) = tc[format!("add_{kind}_token")].as_bool() {
                let writes_flag = SPECIAL_KINDS.iter().any(|(k, _, w)| *k == kind && w.is_some());
                if writes_flag {
                    self.default_flag(kind, flag);
                }
            }
            let entry = &tc[format!("{kind}_token")];
            let Some(content) = entry.as_str().or_else(|| entry["content"].as_str()) else { continue };
            if let Some(id) = added.iter().find(|a| a["content"] == content).and_then(|a| a["id"].as_u64()) {
                self.set_id(kind, id);
            }
        }
    }

    /// Integer `<kind>_token_id` entries of config.json fill what is still unset.
    fn read_config(&mut self, config: &Json) {
        let kinds: Vec<&str> = self.kinds().collect();
        for kind in kinds {
            if let Some(id) = config[format!("{kind}_token_id")].as_u64() {
                self.set_id(kind, id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_in_both_formats() {
        let old = json!({"model": {"merges": ["Ġ t", "a b"]}});
        let new = json!({"model": {"merges": [["Ġ", "t"], ["a b", "c"]]}});
        assert_eq!(merges(Path::new("t.json"), &old).unwrap(), ["Ġ t", "a b"]);
        assert_eq!(merges(Path::new("t.json"), &new).unwrap(), ["Ġ t", "aĠb c"]);
        assert!(merges(Path::new("t.json"), &json!({"model": {"merges": [1]}})).is_err());
    }

    #[test]
    fn llama3_template_processing_adds_bos_only() {
        let tokenizer = json!({"post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel"},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>"}}, {"Sequence": {"id": "A"}}],
             "pair": [{"SpecialToken": {"id": "<|begin_of_text|>"}}, {"Sequence": {"id": "A"}},
                      {"SpecialToken": {"id": "<|begin_of_text|>"}}, {"Sequence": {"id": "B"}}]}]},
            "added_tokens": [{"id": 128000, "content": "<|begin_of_text|>"}, {"id": 128009, "content": "<|eot_id|>"}]});
        let mut tc = json!({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"});
        let mut s = SpecialVocab::default();
        s.read_post_processor(&tokenizer, Some(&mut tc));
        s.read_tokenizer_config(&tokenizer, &tc);
        s.read_config(&json!({"bos_token_id": 1, "eos_token_id": [2, 3], "pad_token_id": 7}));
        assert_eq!(s.flags, [("bos".into(), true), ("eos".into(), false), ("sep".into(), false)]);
        assert_eq!(s.ids, [("bos".into(), 128000), ("eos".into(), 128009), ("pad".into(), 7)]);
    }
}
