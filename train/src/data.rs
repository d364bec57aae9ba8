//! Pairs as token ids for the policy's tokenizer: the prompt through the chat template as the
//! runtime sends it, and each reply as what the template adds after it (the reply's text and the
//! end-of-turn token, so that stopping is trained too).
//!
//! A pair that does not fit `max_length` is dropped and counted, never cut: a truncated critique
//! would teach the model to stop mid-sentence, and a truncated prompt to judge what it cannot see.

use std::path::Path;

use selene_tokenizer::{Message, Tokenizer};

use crate::error::{Error, Result};
use crate::pairs::read_pairs;

/// One pair as token ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenizedPair {
    /// Line of the pairs file.
    pub line: usize,
    pub prompt: Vec<u32>,
    pub chosen: Vec<u32>,
    pub rejected: Vec<u32>,
}

impl TokenizedPair {
    /// Tokens the policy runs for this pair (both sequences).
    pub fn tokens(&self) -> usize {
        2 * self.prompt.len() + self.chosen.len() + self.rejected.len()
    }

    pub fn longest(&self) -> usize {
        self.prompt.len() + self.chosen.len().max(self.rejected.len())
    }
}

/// The training pairs, and how many were too long.
pub struct Dataset {
    pub pairs: Vec<TokenizedPair>,
    pub too_long: usize,
}

/// Reads and tokenizes a pairs file.
pub fn load(path: &Path, tokenizer: &Tokenizer, max_length: usize) -> Result<Dataset> {
    let template = tokenizer
        .chat_template()
        .map_err(|e| Error::new("tokenizer", "chat_template", e))?
        .ok_or_else(|| Error::new("tokenizer", "chat_template", "the model has no chat template"))?;
    let chat_ids = |messages: &[Message], add_generation_prompt| {
        tokenizer
            .encode_chat(&template, messages, add_generation_prompt)
            .map_err(|e| Error::new("tokenizer", "chat", e))
    };
    let mut pairs = Vec::new();
    let mut too_long = 0;
    for (line, record) in read_pairs(path)? {
        let user = Message::new("user", record.prompt.as_str());
        let prompt = chat_ids(std::slice::from_ref(&user), true)?;
        let reply = |text: &str, field: &str| -> Result<Vec<u32>> {
            let full = chat_ids(&[user.clone(), Message::new("assistant", text)], false)?;
            match full.strip_prefix(prompt.as_slice()) {
                Some(reply) if !reply.is_empty() => Ok(reply.to_vec()),
                _ => Err(Error::at_line(
                    path,
                    line,
                    field,
                    "the chat template does not render the prompt as a prefix of prompt and reply, so the reply's \
                     tokens cannot be told apart",
                )),
            }
        };
        let pair = TokenizedPair {
            line,
            chosen: reply(&record.chosen, "chosen")?,
            rejected: reply(&record.rejected, "rejected")?,
            prompt,
        };
        if pair.longest() > max_length {
            too_long += 1;
        } else {
            pairs.push(pair);
        }
    }
    if pairs.is_empty() {
        return Err(Error::file(
            path,
            "pairs",
            format!("all {too_long} pairs are longer than max_length {max_length}"),
        ));
    }
    Ok(Dataset { pairs, too_long })
}
