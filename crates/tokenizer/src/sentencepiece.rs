//! SentencePiece BPE (GGUF `tokenizer.ggml.model` = `llama`) as llama.cpp runs it.
//!
//! llama.cpp does not use merge rules for these vocabularies: it repeatedly joins the adjacent
//! pair whose concatenation is the vocabulary token with the highest score, the leftmost pair
//! among equal scores (`llm_tokenizer_spm` in `src/llama-vocab.cpp`). Hugging Face BPE ranks
//! every merge differently and cannot express equal ranks, and GGUF files converted from a
//! `tokenizer.json` give every token the same score, so this loop is implemented here rather
//! than mapped onto `tokenizers`.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use aho_corasick::{AhoCorasick, MatchKind};

use crate::error::{Error, Result};
use crate::vocab::{Token, TokenKind};

#[derive(Clone)]
pub(crate) struct SentencePiece {
    /// Every token text may produce: all but control and unknown tokens.
    ids: HashMap<String, u32>,
    scores: Vec<f32>,
    /// The `<0xAB>` token of each byte, for characters outside the vocabulary.
    byte_ids: Vec<Option<u32>>,
    unknown: Option<u32>,
    add_space_prefix: bool,
    /// User-defined tokens, matched in any text before merging (leftmost-longest).
    user_defined: Option<(AhoCorasick, Vec<u32>)>,
}

impl SentencePiece {
    pub(crate) fn new(tokens: &[Token], scores: Vec<f32>, add_space_prefix: bool) -> Result<SentencePiece> {
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.kind.is_special())
            .map(|(id, t)| (t.text.clone(), id as u32))
            .collect();
        let byte_ids = (0..=255u8).map(|b| ids.get(&format!("<0x{b:02X}>")).copied()).collect();
        let unknown = tokens.iter().position(|t| t.kind == TokenKind::Unknown).map(|id| id as u32);
        let (patterns, pattern_ids): (Vec<&str>, Vec<u32>) = tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| t.kind == TokenKind::UserDefined)
            .map(|(id, t)| (t.text.as_str(), id as u32))
            .unzip();
        let user_defined = if patterns.is_empty() {
            None
        } else {
            let matcher = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .map_err(|e| Error::Tokenizers(format!("user-defined tokens: {e}")))?;
            Some((matcher, pattern_ids))
        };
        Ok(SentencePiece { ids, scores, byte_ids, unknown, add_space_prefix, user_defined })
    }

    /// Encodes plain text (no control tokens) and appends the ids.
    pub(crate) fn encode(&self, text: &str, out: &mut Vec<u32>) {
        let mut start = 0;
        if let Some((matcher, pattern_ids)) = &self.user_defined {
            for m in matcher.find_iter(text) {
                self.encode_fragment(&text[start..m.start()], out);
                out.push(pattern_ids[m.pattern().as_usize()]);
                start = m.end();
            }
        }
        self.encode_fragment(&text[start..], out);
    }

    /// One stretch of text between tokens: llama.cpp puts a space in front of each (when the
    /// vocabulary asks for it), writes spaces as `▁`, and merges.
    fn encode_fragment(&self, text: &str, out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        let mut escaped = String::with_capacity(text.len() + 3);
        if self.add_space_prefix {
            escaped.push('▁');
        }
        for c in text.chars() {
            escaped.push(if c == ' ' { '▁' } else { c });
        }
        self.merge(&escaped, out);
    }

    fn merge(&self, text: &str, out: &mut Vec<u32>) {
        // One symbol per character, linked in a list; merged symbols grow, absorbed ones empty.
        let mut symbols: Vec<Symbol> =
            text.char_indices().map(|(start, c)| Symbol { start, len: c.len_utf8(), prev: None, next: None }).collect();
        let n = symbols.len();
        for (i, symbol) in symbols.iter_mut().enumerate() {
            symbol.prev = i.checked_sub(1);
            symbol.next = (i + 1 < n).then_some(i + 1);
        }
        let mut queue = BinaryHeap::new();
        for i in 1..n {
            self.push_pair(text, &symbols, i - 1, i, &mut queue);
        }
        while let Some(pair) = queue.pop() {
            let (left, right) = (symbols[pair.left], symbols[pair.right]);
            // Skip pairs that an earlier merge has changed.
            if left.len == 0 || right.len == 0 || left.len + right.len != pair.len {
                continue;
            }
            symbols[pair.left].len += right.len;
            symbols[pair.right].len = 0;
            symbols[pair.left].next = right.next;
            if let Some(next) = right.next {
                symbols[next].prev = Some(pair.left);
            }
            if let Some(prev) = left.prev {
                self.push_pair(text, &symbols, prev, pair.left, &mut queue);
            }
            if let Some(next) = right.next {
                self.push_pair(text, &symbols, pair.left, next, &mut queue);
            }
        }
        let mut at = (n > 0).then_some(0);
        while let Some(i) = at {
            let piece = &text[symbols[i].start..symbols[i].start + symbols[i].len];
            match self.ids.get(piece) {
                Some(&id) => out.push(id),
                None => out.extend(piece.bytes().filter_map(|b| self.byte_ids[usize::from(b)].or(self.unknown))),
            }
            at = symbols[i].next;
        }
    }

    fn push_pair(&self, text: &str, symbols: &[Symbol], left: usize, right: usize, queue: &mut BinaryHeap<Pair>) {
        let start = symbols[left].start;
        let len = symbols[left].len + symbols[right].len;
        if let Some(&id) = self.ids.get(&text[start..start + len]) {
            queue.push(Pair { score: self.scores[id as usize], left, right, len });
        }
    }
}

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge; the heap yields the highest score first, then the leftmost.
struct Pair {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Ord for Pair {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then(other.left.cmp(&self.left))
    }
}

impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pair {}
