//! Chat templates (`tokenizer.chat_template`), rendered as transformers' `apply_chat_template`
//! renders them, into segments that keep users' text apart from the template's.
//!
//! The template runs twice: once with the real message contents, giving exactly the text
//! transformers would produce, and once with a placeholder in place of each content. The
//! placeholder run shows which text the template wrote and where each content went; its
//! placeholders are then replaced by the contents, which become [`Segment::Data`]. The two runs
//! must give the same text. When they do not, the template looked into or rewrote a content in a
//! way that placeholders cannot follow, and rendering fails rather than guess which text came
//! from the user. Trimming a content (`| trim`, `.strip()`), as Llama 3's template does, is
//! followed: a placeholder carries the content's leading and trailing whitespace.

use minijinja::value::{Serde, Value, ValueKind};
use std::collections::BTreeMap;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, ErrorKind, State};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::tokenizer::Segment;

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Message {
        Message { role: role.into(), content: content.into() }
    }
}

/// A compiled chat template with the BOS and EOS texts it may use.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

const TEMPLATE: &str = "chat_template";
/// Placeholder delimiters: noncharacters, which text from outside has no business carrying.
const OPEN: char = '\u{10FFFE}';
const CLOSE: char = '\u{10FFFF}';

impl ChatTemplate {
    /// Compiles `source` in an environment like transformers' (`trim_blocks`, `lstrip_blocks`,
    /// loop controls, `raise_exception`, Python string methods).
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<ChatTemplate> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build().map_err(template_error)?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(python_methods);
        env.add_filter("trim", python_trim);
        env.add_function("raise_exception", |message: String| -> std::result::Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned(TEMPLATE, source.to_owned()).map_err(template_error)?;
        Ok(ChatTemplate { env, bos_token: bos_token.to_owned(), eos_token: eos_token.to_owned() })
    }

    /// The rendered text, exactly as `apply_chat_template(messages, tokenize=False)` gives it.
    pub fn render_text(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        self.run(messages, add_generation_prompt)
    }

    /// The rendered prompt as segments: message contents are [`Segment::Data`], everything the
    /// template wrote is [`Segment::Template`]. Their concatenation equals [`Self::render_text`].
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<Vec<Segment>> {
        let expected = self.run(messages, add_generation_prompt)?;
        let placeholders: Vec<Message> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (lead, core, trail) = split_whitespace(&m.content);
                let content = if core.is_empty() {
                    format!("{lead}{OPEN}{i}{CLOSE}")
                } else {
                    format!("{lead}{OPEN}{i}{CLOSE}{trail}")
                };
                Message { role: m.role.clone(), content }
            })
            .collect();
        let skeleton = self.run(&placeholders, add_generation_prompt)?;
        let segments = fill_placeholders(&skeleton, messages)?;
        let rendered: String = segments.iter().map(Segment::text).collect();
        if rendered != expected {
            return Err(Error::Template(
                "the template inspects or rewrites message contents beyond trimming them, so its own text cannot be \
                 told apart from the messages'"
                    .into(),
            ));
        }
        Ok(segments)
    }

    fn run(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let template = self.env.get_template(TEMPLATE).map_err(template_error)?;
        // `strftime_now` stays undefined (transformers asks the clock): a judge wants
        // reproducible prompts, so templates use their own fallback date.
        let context = BTreeMap::from([
            ("messages", Value::from(Serde(messages))),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", Value::from(self.bos_token.as_str())),
            ("eos_token", Value::from(self.eos_token.as_str())),
        ]);
        template.render(context).map_err(template_error)
    }
}

fn template_error(e: minijinja::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Error::Template(message)
}

/// Splits the rendered placeholder text into template text and message contents.
fn fill_placeholders(skeleton: &str, messages: &[Message]) -> Result<Vec<Segment>> {
    let mangled = || Error::Template("the template rewrites message contents (a placeholder came out altered)".into());
    let mut segments = Vec::new();
    let mut rest = skeleton;
    while let Some(open) = rest.find(OPEN) {
        let after = &rest[open + OPEN.len_utf8()..];
        let close = after.find(CLOSE).ok_or_else(mangled)?;
        let index: usize = after[..close].parse().map_err(|_| mangled())?;
        let message = messages.get(index).ok_or_else(mangled)?;
        push_template(&mut segments, &rest[..open]);
        let (_, core, _) = split_whitespace(&message.content);
        if !core.is_empty() {
            segments.push(Segment::Data(core.to_owned()));
        }
        rest = &after[close + CLOSE.len_utf8()..];
    }
    if rest.contains(CLOSE) {
        return Err(mangled());
    }
    push_template(&mut segments, rest);
    Ok(segments)
}

fn push_template(segments: &mut Vec<Segment>, text: &str) {
    if !text.is_empty() {
        segments.push(Segment::Template(text.to_owned()));
    }
}

/// Python's `str.isspace`: Unicode whitespace and the four ASCII separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// (leading whitespace, the rest without trailing whitespace, trailing whitespace).
fn split_whitespace(s: &str) -> (&str, &str, &str) {
    let core_start = s.len() - s.trim_start_matches(is_python_space).len();
    let core_end = s.trim_end_matches(is_python_space).len().max(core_start);
    (&s[..core_start], &s[core_start..core_end], &s[core_end..])
}

/// Jinja's `trim` filter is Python's `str.strip(chars)`.
fn python_trim(value: String, chars: Option<String>) -> String {
    strip(&value, chars.as_deref(), true, true).to_owned()
}

fn strip<'a>(s: &'a str, chars: Option<&str>, left: bool, right: bool) -> &'a str {
    let strip_char = |c: char| match chars {
        Some(set) => set.contains(c),
        None => is_python_space(c),
    };
    let s = if left { s.trim_start_matches(strip_char) } else { s };
    if right { s.trim_end_matches(strip_char) } else { s }
}

/// Python string methods: `strip`, `lstrip` and `rstrip` with Python's idea of whitespace, the
/// rest from minijinja-contrib's Python compatibility layer.
fn python_methods(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> std::result::Result<Value, minijinja::Error> {
    if let (Some(s), "strip" | "lstrip" | "rstrip") = (value.as_str(), method)
        && value.kind() == ValueKind::String
        && args.len() <= 1
    {
        let chars = match args.first() {
            None => None,
            Some(a) if a.is_none() => None,
            Some(a) => Some(
                a.as_str().ok_or_else(|| minijinja::Error::new(ErrorKind::InvalidOperation, "strip takes a string"))?,
            ),
        };
        return Ok(Value::from(strip(s, chars, method != "rstrip", method != "lstrip")));
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}
