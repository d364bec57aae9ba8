//! Token ids back to text, all at once or as a stream.
//!
//! Each token is turned into the exact bytes it stands for (byte-level BPE maps characters back
//! to bytes; SentencePiece turns `▁` into a space and `<0xAB>` into a byte). Decoding joins bytes,
//! not strings, because one character is often split over several tokens; the stream decoder
//! holds back an incomplete UTF-8 tail until the tokens that complete it arrive. Both use the
//! same byte table, so streamed text always equals the full decode.

use crate::error::{Error, Result};
use crate::vocab::{Token, TokenKind};

/// How a vocabulary spells bytes in its token texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spelling {
    /// GPT-2 byte-level BPE: every byte is one printable character (space is `Ġ`).
    ByteLevel,
    /// SentencePiece: `▁` is a space, `<0xAB>` is a byte; `strip_first_space` removes the space
    /// the encoder put in front of the text.
    SentencePiece { strip_first_space: bool },
}

/// The bytes of every token, and which tokens are special.
#[derive(Clone, Debug)]
pub(crate) struct ByteTable {
    bytes: Vec<Box<[u8]>>,
    special: Vec<bool>,
    strip_first_space: bool,
}

impl ByteTable {
    pub(crate) fn new(tokens: &[Token], spelling: Spelling) -> ByteTable {
        let char_to_byte = byte_level_decoding();
        let bytes = tokens
            .iter()
            .map(|token| match (token.kind, spelling) {
                // Added tokens are stored as plain text in both spellings.
                (TokenKind::Control | TokenKind::Unknown | TokenKind::UserDefined, _) => {
                    Box::<[u8]>::from(token.text.as_bytes())
                }
                (_, Spelling::ByteLevel) => token
                    .text
                    .chars()
                    .flat_map(|c| match char_to_byte.get(c as usize) {
                        Some(&Some(b)) => vec![b],
                        _ => c.to_string().into_bytes(),
                    })
                    .collect(),
                (TokenKind::Byte, Spelling::SentencePiece { .. }) => match byte_token_value(&token.text) {
                    Some(b) => Box::new([b]) as Box<[u8]>,
                    None => token.text.as_bytes().into(),
                },
                (_, Spelling::SentencePiece { .. }) => token.text.replace('▁', " ").into_bytes().into(),
            })
            .collect();
        ByteTable {
            bytes,
            special: tokens.iter().map(|t| t.kind.is_special()).collect(),
            strip_first_space: matches!(spelling, Spelling::SentencePiece { strip_first_space: true }),
        }
    }

    fn piece(&self, id: u32, skip_special: bool) -> Result<&[u8]> {
        let i = id as usize;
        let bytes = self.bytes.get(i).ok_or_else(|| {
            Error::Tokenizers(format!("token id {id} is not in the vocabulary of {} tokens", self.bytes.len()))
        })?;
        Ok(if skip_special && self.special[i] { &[] } else { bytes })
    }

    pub(crate) fn token(&self, id: u32) -> Option<&[u8]> {
        self.bytes.get(id as usize).map(|b| &b[..])
    }

    pub(crate) fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// All `ids` as text; invalid UTF-8 (a sequence cut short) becomes U+FFFD.
    pub(crate) fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(self.piece(id, skip_special)?);
        }
        let start = usize::from(self.strip_first_space && bytes.first() == Some(&b' '));
        Ok(String::from_utf8_lossy(&bytes[start..]).into_owned())
    }
}

/// `<0xAB>` → `0xAB`.
fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// GPT-2's byte ↔ character map, inverted: index by character, get the byte. Printable Latin-1
/// bytes stand for themselves; the other 68 bytes are spelled U+0100.. in byte order.
fn byte_level_decoding() -> Vec<Option<u8>> {
    let mut map = vec![None; 0x144];
    let mut next = 0x100;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let c = if printable {
            usize::from(b)
        } else {
            next += 1;
            next - 1
        };
        map[c] = Some(b);
    }
    map
}

/// Emits text as soon as it is complete UTF-8 (see [`crate::Tokenizer::stream_decoder`]).
pub struct StreamDecoder<'a> {
    table: &'a ByteTable,
    skip_special: bool,
    pending: Vec<u8>,
    at_start: bool,
}

impl<'a> StreamDecoder<'a> {
    pub(crate) fn new(table: &'a ByteTable, skip_special: bool) -> Self {
        StreamDecoder { table, skip_special, pending: Vec::new(), at_start: true }
    }

    /// Adds one token; returns the text it completes, if any. An id outside the vocabulary is
    /// an error and leaves the decoder unchanged.
    pub fn push(&mut self, id: u32) -> Result<Option<String>> {
        let piece = self.table.piece(id, self.skip_special)?;
        self.pending.extend_from_slice(piece);
        if self.at_start && !self.pending.is_empty() {
            self.at_start = false;
            if self.table.strip_first_space && self.pending[0] == b' ' {
                self.pending.remove(0);
            }
        }
        let complete = complete_prefix_len(&self.pending);
        if complete == 0 {
            return Ok(None);
        }
        let rest = self.pending.split_off(complete);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        Ok(Some(text))
    }

    /// The text still held back at the end of a stream: an incomplete character, as U+FFFD.
    pub fn finish(self) -> Option<String> {
        (!self.pending.is_empty()).then(|| String::from_utf8_lossy(&self.pending).into_owned())
    }
}

/// The length of `bytes` without a trailing, possibly still incomplete UTF-8 sequence. Bytes that
/// can never become valid (a stray continuation byte) are released, to come out as U+FFFD the way
/// a full decode renders them.
fn complete_prefix_len(bytes: &[u8]) -> usize {
    let n = bytes.len();
    // A sequence is at most 4 bytes: look back at most 3 bytes for its lead byte.
    for back in 1..=n.min(3) {
        let b = bytes[n - back];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte: keep looking for the lead
        }
        let needed = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return n, // ASCII or a byte that can never start a sequence
        };
        return if back < needed
            && std::str::from_utf8(&bytes[n - back..]).is_err()
            && could_complete(&bytes[n - back..])
        {
            n - back
        } else {
            n
        };
    }
    n
}

/// Whether `head` (a lead byte and fewer continuation bytes than it needs) can still become a
/// valid character.
fn could_complete(head: &[u8]) -> bool {
    let mut probe = head.to_vec();
    // Complete it with the smallest continuation bytes that keep it valid, if there are any.
    for fill in [0x80u8, 0x90, 0xA0] {
        probe.truncate(head.len());
        let needed = match head[0] {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        while probe.len() < needed {
            probe.push(fill);
        }
        if std::str::from_utf8(&probe).is_ok() {
            return true;
        }
    }
    false
}
