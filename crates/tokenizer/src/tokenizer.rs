//! The tokenizer: text to ids with special tokens only where the caller allows them, ids to text.

use aho_corasick::{AhoCorasick, MatchKind};
use tokenizers::Tokenizer as HfTokenizer;

use crate::chat::ChatTemplate;
use crate::decode::{ByteTable, Spelling, StreamDecoder};
use crate::error::{Error, Result};
use crate::sentencepiece::SentencePiece;
use crate::vocab::{NamedIds, Token};

/// A piece of text to encode, marked with whether special tokens may come from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Text the template wrote: `<|eot_id|>` in it is the end-of-turn token.
    Template(String),
    /// Text from a user (a message, a document being judged): `<|eot_id|>` in it is ten
    /// characters of plain text, never the end-of-turn token.
    Data(String),
}

impl Segment {
    pub fn text(&self) -> &str {
        match self {
            Segment::Template(s) | Segment::Data(s) => s,
        }
    }
}

/// Encodes plain text; never produces control tokens.
#[derive(Clone)]
pub(crate) enum PlainEncoder {
    /// A Hugging Face `tokenizers` pipeline.
    Hf(Box<HfTokenizer>),
    /// llama.cpp's SentencePiece merge loop.
    SentencePiece(SentencePiece),
}

/// What a vocabulary source hands to [`Tokenizer::assemble`].
pub(crate) struct Parts {
    pub(crate) encoder: PlainEncoder,
    pub(crate) tokens: Vec<Token>,
    pub(crate) spelling: Spelling,
    pub(crate) named: NamedIds,
    pub(crate) eog: Vec<u32>,
    pub(crate) add_bos: bool,
    pub(crate) chat_template: Option<String>,
}

/// A tokenizer for one model, from its GGUF metadata ([`Tokenizer::from_gguf`]) or its
/// `tokenizer.json` ([`Tokenizer::from_tokenizer_json`]).
///
/// Encoding never adds BOS: whether a prompt starts with it is the caller's decision, made with
/// [`Tokenizer::add_bos`] and [`Tokenizer::bos_id`] (llama.cpp adds it when `add_bos` is true;
/// chat templates such as Llama 3's write `<|begin_of_text|>` themselves, and then the caller
/// must not add a second one).
#[derive(Clone)]
pub struct Tokenizer {
    encoder: PlainEncoder,
    /// Finds special tokens in template text, leftmost-longest.
    special_matcher: Option<AhoCorasick>,
    /// The id of each pattern of `special_matcher`.
    special_ids: Vec<u32>,
    bytes: ByteTable,
    texts: Vec<String>,
    bos: Option<u32>,
    eos: Option<u32>,
    eog: Vec<u32>,
    add_bos: bool,
    chat_template: Option<String>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.texts.len())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("eog", &self.eog)
            .field("add_bos", &self.add_bos)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// From GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`).
    pub fn from_gguf(metadata: &selene_gguf::Metadata) -> Result<Tokenizer> {
        crate::from_gguf::tokenizer_from_gguf(metadata)
    }

    /// From the bytes of a Hugging Face `tokenizer.json` and, optionally, its
    /// `tokenizer_config.json` (for `chat_template`, `bos_token`, `eos_token`, `add_bos_token`).
    pub fn from_tokenizer_json(tokenizer_json: &[u8], tokenizer_config_json: Option<&[u8]>) -> Result<Tokenizer> {
        crate::from_json::tokenizer_from_json(tokenizer_json, tokenizer_config_json)
    }

    pub(crate) fn assemble(parts: Parts) -> Result<Tokenizer> {
        let Parts { mut encoder, tokens, spelling, named, eog, add_bos, chat_template } = parts;
        // Special tokens registered with the encoder (tokenizer.json declares them) must never
        // be matched in what it encodes: it only sees plain text.
        if let PlainEncoder::Hf(hf) = &mut encoder {
            hf.set_encode_special_tokens(true);
        }
        let (patterns, special_ids): (Vec<&str>, Vec<u32>) = tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| t.kind.is_special())
            .map(|(id, t)| (t.text.as_str(), id as u32))
            .unzip();
        let special_matcher = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .map_err(|e| Error::Tokenizers(format!("special tokens: {e}")))?,
            )
        };
        Ok(Tokenizer {
            encoder,
            special_matcher,
            special_ids,
            bytes: ByteTable::new(&tokens, spelling),
            texts: tokens.into_iter().map(|t| t.text).collect(),
            bos: named.bos,
            eos: named.eos,
            eog,
            add_bos,
            chat_template,
        })
    }

    /// Encodes `text`. With `allow_special`, special-token texts in it (`<|eot_id|>`) become
    /// those tokens, as in a template; without, the text is data and encodes as plain text.
    pub fn encode(&self, text: &str, allow_special: bool) -> Result<Vec<u32>> {
        let segment = if allow_special { Segment::Template(text.to_owned()) } else { Segment::Data(text.to_owned()) };
        self.encode_segments(std::slice::from_ref(&segment))
    }

    /// Encodes the concatenation of `segments` exactly as llama.cpp encodes the whole text with
    /// special-token parsing on, except that special-token texts in [`Segment::Data`] (or across
    /// a segment boundary) stay plain text. Word splitting runs over the joined text, so
    /// cutting a prompt into segments never changes how the words around a cut are tokenized.
    pub fn encode_segments(&self, segments: &[Segment]) -> Result<Vec<u32>> {
        let mut text = String::new();
        // Special tokens found in template segments: (start, end, id) in `text`.
        let mut specials = Vec::new();
        for segment in segments {
            let offset = text.len();
            if let (Segment::Template(t), Some(matcher)) = (segment, &self.special_matcher) {
                for m in matcher.find_iter(t.as_str()) {
                    specials.push((offset + m.start(), offset + m.end(), self.special_ids[m.pattern().as_usize()]));
                }
            }
            text.push_str(segment.text());
        }
        let mut ids = Vec::new();
        let mut start = 0;
        for (s, e, id) in specials {
            self.encode_plain(&text[start..s], &mut ids)?;
            ids.push(id);
            start = e;
        }
        self.encode_plain(&text[start..], &mut ids)?;
        Ok(ids)
    }

    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        match &self.encoder {
            PlainEncoder::Hf(hf) => {
                let encoding = hf.encode_fast(text, false).map_err(Error::tokenizers)?;
                ids.extend_from_slice(encoding.get_ids());
            }
            PlainEncoder::SentencePiece(sp) => sp.encode(text, ids),
        }
        Ok(())
    }

    /// The text of `ids`. With `skip_special`, control tokens are left out.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.bytes.decode(ids, skip_special)
    }

    /// A decoder for generated tokens that emits text as soon as it is complete UTF-8.
    pub fn stream_decoder(&self, skip_special: bool) -> StreamDecoder<'_> {
        StreamDecoder::new(&self.bytes, skip_special)
    }

    pub fn vocab_size(&self) -> usize {
        self.texts.len()
    }

    /// The vocabulary's own spelling of a token (`Ġthe`, `<|eot_id|>`).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.texts.get(id as usize).map(String::as_str)
    }

    /// The bytes a token stands for (a token may hold part of a UTF-8 character), or `None`
    /// for an id outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.bytes.token(id)
    }

    /// Whether `id` is a special (control or unknown) token, which data never encodes to.
    pub fn is_special(&self, id: u32) -> bool {
        self.bytes.is_special(id)
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Whether the model expects BOS in front of a prompt (llama.cpp's `add_bos`).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Every token that ends a turn, sorted: EOS, end-of-turn and end-of-message tokens and the
    /// other tokens llama.cpp stops at (`<|eot_id|>`, `<|end_of_text|>`, `<|im_end|>`,
    /// `<|endoftext|>`, ...).
    pub fn end_of_generation_ids(&self) -> &[u32] {
        &self.eog
    }

    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    /// Ids of `messages` rendered by `template` (the model's own: [`chat_template`]), with BOS
    /// in front as [`with_bos`] adds it. Messages are data: only the template makes special
    /// tokens.
    ///
    /// [`chat_template`]: Self::chat_template
    /// [`with_bos`]: Self::with_bos
    pub fn encode_chat(
        &self,
        template: &ChatTemplate,
        messages: &[crate::chat::Message],
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>> {
        let ids = self.encode_segments(&template.render(messages, add_generation_prompt)?)?;
        Ok(self.with_bos(ids))
    }

    /// `ids` with BOS in front where the model expects one (llama.cpp's `add_bos`) and they do
    /// not already start with it (a template may write it).
    pub fn with_bos(&self, mut ids: Vec<u32>) -> Vec<u32> {
        if let (true, Some(bos)) = (self.add_bos, self.bos)
            && ids.first() != Some(&bos)
        {
            ids.insert(0, bos);
        }
        ids
    }

    /// The model's chat template, with its BOS and EOS texts, if it has one.
    pub fn chat_template(&self) -> Result<Option<ChatTemplate>> {
        let text = |id: Option<u32>| id.and_then(|id| self.token_text(id)).unwrap_or_default().to_owned();
        self.chat_template
            .as_deref()
            .map(|source| ChatTemplate::new(source, &text(self.bos), &text(self.eos)))
            .transpose()
    }
}
