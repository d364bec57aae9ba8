//! Filling a template with an item, keeping track of which text is the user's.
//!
//! The rendered prompt is a sequence of segments rather than one string so that the runtime
//! can treat the user's text as data: special tokens must come only from the chat template,
//! never from a response that happens to contain `<|eot_id|>`. Template and item must match
//! exactly — a variable without a value and a value without a variable are both errors —
//! because either mismatch means the model would be judging something other than the user
//! thinks (a rubric silently left out, a reference silently ignored).

use std::borrow::Cow;
use std::ops::Range;

use thiserror::Error;

use crate::item::{JudgeItem, field_for};
use crate::template::{Part, Template, ValueEncoding, Variable};

/// One piece of a rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptPart<'a> {
    /// Text of the template itself.
    Template(&'a str),
    /// A value from the item — text supplied by the user, to be tokenized as plain text.
    Data { variable: Variable, text: Cow<'a, str> },
}

/// A rendered prompt: the content of the single user message Selene expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt<'a> {
    segments: Vec<PromptPart<'a>>,
}

/// Why an item does not fit a template.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RenderError {
    #[error("the template uses {variable} but the item has no `{field}`")]
    MissingValue { variable: Variable, field: String },
    #[error("the item's `{field}` has no place in the template (it does not use {variable})")]
    UnusedValue { variable: Variable, field: String },
}

/// Fills `template` with the values of `item` in one pass over the template's parts.
pub fn render<'a>(template: &'a Template, item: &'a JudgeItem) -> Result<Prompt<'a>, RenderError> {
    let supplied = item.supplied();
    if let Some(&(variable, _)) = supplied.iter().find(|(v, _)| !template.variables().any(|used| used == *v)) {
        return Err(RenderError::UnusedValue { variable, field: field_for(variable) });
    }
    let segments = template
        .parts()
        .iter()
        .map(|part| match part {
            Part::Text(text) => Ok(PromptPart::Template(text)),
            Part::Slot(variable) => {
                let value = supplied.iter().find(|(v, _)| v == variable).map(|&(_, value)| value);
                let value = value
                    .ok_or_else(|| RenderError::MissingValue { variable: *variable, field: field_for(*variable) })?;
                Ok(PromptPart::Data { variable: *variable, text: encode(value, template.encoding()) })
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(Prompt { segments })
}

impl<'a> Prompt<'a> {
    /// The segments in order.
    pub fn segments(&self) -> &[PromptPart<'a>] {
        &self.segments
    }

    /// The whole prompt as one string.
    pub fn text(&self) -> String {
        self.segments.iter().map(PromptPart::text).collect()
    }

    /// Byte ranges of [`text`](Self::text) that hold user data, in order.
    pub fn data_ranges(&self) -> Vec<Range<usize>> {
        let mut ranges = Vec::new();
        let mut offset = 0;
        for segment in &self.segments {
            let end = offset + segment.text().len();
            if let PromptPart::Data { .. } = segment {
                ranges.push(offset..end);
            }
            offset = end;
        }
        ranges
    }
}

impl PromptPart<'_> {
    /// The segment's text.
    pub fn text(&self) -> &str {
        match self {
            PromptPart::Template(text) => text,
            PromptPart::Data { text, .. } => text,
        }
    }
}

fn encode(value: &str, encoding: ValueEncoding) -> Cow<'_, str> {
    match encoding {
        ValueEncoding::Verbatim => Cow::Borrowed(value),
        ValueEncoding::JsonString => {
            let quoted = serde_json::Value::from(value).to_string();
            Cow::Owned(quoted[1..quoted.len() - 1].to_owned())
        }
    }
}
