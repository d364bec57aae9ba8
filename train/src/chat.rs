//! Prompts as token ids through the model's own chat template, with users' text kept as data
//! (a `<|eot_id|>` inside a judged response is plain text, never the end of a turn).

use selene_tokenizer::{Message, Tokenizer};

use crate::error::{Error, Result};

/// The ids of `messages` rendered by the tokenizer's chat template. BOS is added in front when
/// the model expects it and the template did not write it.
pub fn chat_ids(tokenizer: &Tokenizer, messages: &[Message], add_generation_prompt: bool) -> Result<Vec<u32>> {
    let template = tokenizer
        .chat_template()
        .map_err(|e| Error::new("tokenizer", "chat_template", e))?
        .ok_or_else(|| Error::new("tokenizer", "chat_template", "the model has no chat template"))?;
    let segments =
        template.render(messages, add_generation_prompt).map_err(|e| Error::new("tokenizer", "chat_template", e))?;
    let mut ids = tokenizer.encode_segments(&segments).map_err(|e| Error::new("tokenizer", "encode", e))?;
    if let Some(bos) = tokenizer.bos_id().filter(|_| tokenizer.add_bos())
        && ids.first() != Some(&bos)
    {
        ids.insert(0, bos);
    }
    Ok(ids)
}
