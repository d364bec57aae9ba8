//! Chain-of-thought critiques argued for a given judgment (§2.2): the paper prompted a
//! generation model "to produce actionable, concise, and clear critiques that argued for these
//! judgments", for the chosen and for the rejected judgment alike.
//!
//! A [`CritiqueWriter`] is any generator of such text. The request carries the Selene judge
//! prompt itself, so that the critique answers exactly what the trained model will be asked; the
//! instruction to argue for a result is appended after it, and the reply is started with
//! Selene's `**Reasoning:**` marker so that even small models answer in the trained format.

use crate::error::Result;

/// One critique to write.
pub struct CritiqueRequest<'a> {
    /// The judge prompt (the user message of the pair).
    pub judge_prompt: &'a str,
    /// The judgment to argue for, as the result line writes it (`A`, `No`, `4`, `Tie`).
    pub argue_for: &'a str,
    /// Seed for sampling, so that every critique can be written again.
    pub seed: u64,
}

/// Writes critiques; implemented over the model crate now, and over the runtime once it exists.
pub trait CritiqueWriter {
    /// What wrote the critiques (model file, sampling settings), for each pair's provenance.
    fn describe(&self) -> serde_json::Value;
    /// The whole reply, `**Reasoning:** … **Result:** …`, or `None` when the prompt does not
    /// fit the writer's context.
    fn write(&mut self, request: &CritiqueRequest) -> Result<Option<String>>;
}

/// The start of every reply, which the writer continues.
pub const REPLY_START: &str = "**Reasoning:**";

/// The user message that asks for a critique: the judge prompt, then what to argue for.
pub fn instruction(request: &CritiqueRequest) -> String {
    format!(
        "{}\n\n---\nWrite the evaluation above as an expert judge whose conclusion is `{}`. Give an actionable, \
         concise and clear critique that argues for this result, citing the specific strengths and weaknesses \
         that lead to it, then state the result. Reply exactly in the required format:\n{REPLY_START} <your \
         critique>\n\n**Result:** {}",
        request.judge_prompt, request.argue_for, request.argue_for
    )
}
