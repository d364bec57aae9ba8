//! The names of GGUF metadata keys, spelled once (gguf-py's `Keys`).
//!
//! A misspelled key is not an error anywhere: a reader finds nothing and falls back to a
//! default, a writer makes a file llama.cpp reads differently. So every crate that reads or
//! writes metadata names keys through these constants. Hyper-parameters are prefixed with the
//! architecture (`llama.context_length`); they are [`ArchKey`]s, which cannot be looked up until
//! given that prefix.

/// A key under the architecture's prefix: `{arch}.{suffix}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchKey(&'static str);

impl ArchKey {
    /// The key in a model of architecture `arch` (`general.architecture`).
    pub fn of(self, arch: &str) -> String {
        format!("{arch}.{}", self.0)
    }
}

/// `general.*`: what the file is.
pub mod general {
    pub const ARCHITECTURE: &str = "general.architecture";
    pub const TYPE: &str = "general.type";
    pub const NAME: &str = "general.name";
    pub const VERSION: &str = "general.version";
    pub const ORGANIZATION: &str = "general.organization";
    pub const FINETUNE: &str = "general.finetune";
    pub const BASENAME: &str = "general.basename";
    pub const SIZE_LABEL: &str = "general.size_label";
    /// Alignment of tensor data (u32, a power of two; 32 when absent).
    pub const ALIGNMENT: &str = "general.alignment";
    pub const QUANTIZATION_VERSION: &str = "general.quantization_version";
    pub const FILE_TYPE: &str = "general.file_type";
    /// Recommended sampling, from the checkpoint's `generation_config.json`.
    pub const SAMPLING_SEQUENCE: &str = "general.sampling.sequence";
    pub const SAMPLING_TOP_K: &str = "general.sampling.top_k";
    pub const SAMPLING_TOP_P: &str = "general.sampling.top_p";
    pub const SAMPLING_MIN_P: &str = "general.sampling.min_p";
    pub const SAMPLING_XTC_PROBABILITY: &str = "general.sampling.xtc_probability";
    pub const SAMPLING_XTC_THRESHOLD: &str = "general.sampling.xtc_threshold";
    pub const SAMPLING_TEMP: &str = "general.sampling.temp";
    pub const SAMPLING_PENALTY_LAST_N: &str = "general.sampling.penalty_last_n";
    pub const SAMPLING_PENALTY_REPEAT: &str = "general.sampling.penalty_repeat";
    pub const SAMPLING_MIROSTAT: &str = "general.sampling.mirostat";
    pub const SAMPLING_MIROSTAT_TAU: &str = "general.sampling.mirostat_tau";
    pub const SAMPLING_MIROSTAT_ETA: &str = "general.sampling.mirostat_eta";
}

/// `{arch}.*`: the transformer's size.
pub mod llm {
    use super::ArchKey;

    pub const VOCAB_SIZE: ArchKey = ArchKey("vocab_size");
    pub const CONTEXT_LENGTH: ArchKey = ArchKey("context_length");
    pub const EMBEDDING_LENGTH: ArchKey = ArchKey("embedding_length");
    pub const BLOCK_COUNT: ArchKey = ArchKey("block_count");
    pub const FEED_FORWARD_LENGTH: ArchKey = ArchKey("feed_forward_length");
}

/// `{arch}.attention.*`.
pub mod attention {
    use super::ArchKey;

    pub const HEAD_COUNT: ArchKey = ArchKey("attention.head_count");
    pub const HEAD_COUNT_KV: ArchKey = ArchKey("attention.head_count_kv");
    pub const LAYERNORM_RMS_EPS: ArchKey = ArchKey("attention.layer_norm_rms_epsilon");
    pub const KEY_LENGTH: ArchKey = ArchKey("attention.key_length");
    pub const VALUE_LENGTH: ArchKey = ArchKey("attention.value_length");
}

/// `{arch}.rope.*`: rotary position embeddings.
pub mod rope {
    use super::ArchKey;

    pub const DIMENSION_COUNT: ArchKey = ArchKey("rope.dimension_count");
    pub const FREQ_BASE: ArchKey = ArchKey("rope.freq_base");
    pub const SCALING_TYPE: ArchKey = ArchKey("rope.scaling.type");
    pub const SCALING_FACTOR: ArchKey = ArchKey("rope.scaling.factor");
}

/// `split.*`: a shard's place in a split set (`gguf-split`).
pub mod split {
    /// The shard's number, from 0 (u16).
    pub const NO: &str = "split.no";
    /// The number of shards (u16).
    pub const COUNT: &str = "split.count";
    /// Tensors in the whole set (i32).
    pub const TENSORS_COUNT: &str = "split.tensors.count";
}

/// `tokenizer.*`: the vocabulary and how llama.cpp tokenizes with it.
pub mod tokenizer {
    /// `gpt2` (byte-level BPE) or `llama` (SentencePiece).
    pub const MODEL: &str = "tokenizer.ggml.model";
    /// The pre-tokenizer llama.cpp emulates (`llama-bpe`, `smollm`, ...).
    pub const PRE: &str = "tokenizer.ggml.pre";
    pub const TOKENS: &str = "tokenizer.ggml.tokens";
    pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
    pub const SCORES: &str = "tokenizer.ggml.scores";
    pub const MERGES: &str = "tokenizer.ggml.merges";
    pub const BOS_ID: &str = "tokenizer.ggml.bos_token_id";
    pub const EOS_ID: &str = "tokenizer.ggml.eos_token_id";
    pub const UNK_ID: &str = "tokenizer.ggml.unknown_token_id";
    /// Spelled as llama.cpp spells it.
    pub const SEP_ID: &str = "tokenizer.ggml.seperator_token_id";
    pub const PAD_ID: &str = "tokenizer.ggml.padding_token_id";
    pub const MASK_ID: &str = "tokenizer.ggml.mask_token_id";
    pub const EOT_ID: &str = "tokenizer.ggml.eot_token_id";
    pub const EOM_ID: &str = "tokenizer.ggml.eom_token_id";
    pub const FIM_PRE_ID: &str = "tokenizer.ggml.fim_pre_token_id";
    pub const FIM_SUF_ID: &str = "tokenizer.ggml.fim_suf_token_id";
    pub const FIM_MID_ID: &str = "tokenizer.ggml.fim_mid_token_id";
    pub const FIM_PAD_ID: &str = "tokenizer.ggml.fim_pad_token_id";
    pub const FIM_REP_ID: &str = "tokenizer.ggml.fim_rep_token_id";
    pub const FIM_SEP_ID: &str = "tokenizer.ggml.fim_sep_token_id";
    pub const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
    pub const ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
    pub const ADD_SEP: &str = "tokenizer.ggml.add_sep_token";
    pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
    pub const CHAT_TEMPLATE: &str = "tokenizer.chat_template";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_keys_take_the_architecture_prefix() {
        assert_eq!(llm::CONTEXT_LENGTH.of("llama"), "llama.context_length");
        assert_eq!(attention::LAYERNORM_RMS_EPS.of("llama"), "llama.attention.layer_norm_rms_epsilon");
        assert_eq!(rope::SCALING_FACTOR.of("llama"), "llama.rope.scaling.factor");
    }
}
