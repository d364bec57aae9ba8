//! Prompt templates as parsed text: literal pieces and `{variable}` slots.
//!
//! A template is split into parts once, when it is parsed, and rendering only walks those
//! parts. Values are therefore never scanned for `{...}`: a `{rubric_objective}` inside a
//! response being judged stays literal text, whatever it says.
//!
//! Syntax: `{name}` with a known name is a slot; `{identifier}` with any other name is an
//! error (a typo should not silently reach the model); every other brace is literal text, so
//! JSON-shaped templates need no escaping. There is no `{{` escape, because none of the
//! trained templates needs one and Python's doubling would break JSON templates.

use std::fmt;

use thiserror::Error;

use crate::yaml;

/// A template variable, named as in the Selene Mini templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variable {
    /// `{user_input}`
    UserInput,
    /// `{assistant_response}`
    AssistantResponse,
    /// `{assistant_response_a}`
    AssistantResponseA,
    /// `{assistant_response_b}`
    AssistantResponseB,
    /// `{rubric_objective}`
    RubricObjective,
    /// `{rubric_score_N_description}`, N counting from 1.
    RubricScoreDescription(u32),
    /// `{rubric_yes_description}`
    RubricYesDescription,
    /// `{rubric_no_description}`
    RubricNoDescription,
    /// `{reference_response}`
    ReferenceResponse,
}

/// How values are written into the template text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueEncoding {
    /// Verbatim, as the trained templates were filled.
    Verbatim,
    /// Escaped as the inside of a JSON string, for templates whose slots sit in `"..."`.
    JsonString,
}

/// A parsed prompt template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    encoding: ValueEncoding,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Text(String),
    Slot(Variable),
}

/// Why a template could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error(
        "unknown template variable `{{{name}}}` at byte {offset}; known variables: {{user_input}}, \
         {{assistant_response}}, {{assistant_response_a}}, {{assistant_response_b}}, \
         {{rubric_objective}}, {{rubric_score_N_description}}, {{rubric_yes_description}}, \
         {{rubric_no_description}}, {{reference_response}}"
    )]
    UnknownVariable { name: String, offset: usize },
    #[error("the template has no variables, so nothing being judged would reach the model")]
    NoVariables,
    #[error("YAML template, line {line}: {reason}")]
    Yaml { line: usize, reason: String },
}

impl Variable {
    /// The name between the braces, e.g. `rubric_score_3_description`.
    pub fn name(&self) -> String {
        match self {
            Variable::UserInput => "user_input".to_owned(),
            Variable::AssistantResponse => "assistant_response".to_owned(),
            Variable::AssistantResponseA => "assistant_response_a".to_owned(),
            Variable::AssistantResponseB => "assistant_response_b".to_owned(),
            Variable::RubricObjective => "rubric_objective".to_owned(),
            Variable::RubricScoreDescription(n) => format!("rubric_score_{n}_description"),
            Variable::RubricYesDescription => "rubric_yes_description".to_owned(),
            Variable::RubricNoDescription => "rubric_no_description".to_owned(),
            Variable::ReferenceResponse => "reference_response".to_owned(),
        }
    }

    fn from_name(name: &str) -> Option<Variable> {
        Some(match name {
            "user_input" => Variable::UserInput,
            "assistant_response" => Variable::AssistantResponse,
            "assistant_response_a" => Variable::AssistantResponseA,
            "assistant_response_b" => Variable::AssistantResponseB,
            "rubric_objective" => Variable::RubricObjective,
            "rubric_yes_description" => Variable::RubricYesDescription,
            "rubric_no_description" => Variable::RubricNoDescription,
            "reference_response" => Variable::ReferenceResponse,
            other => {
                let number = other.strip_prefix("rubric_score_")?.strip_suffix("_description")?;
                if number.starts_with('0') || !number.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Variable::RubricScoreDescription(number.parse().ok()?)
            }
        })
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.name())
    }
}

impl Template {
    /// Parses template text with `{variable}` slots.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        Template::parse_with(text, ValueEncoding::Verbatim)
    }

    /// Reads the `user_template` block scalar of a YAML file in the layout of Selene's
    /// template files (`user_template: |-` followed by indented text) and parses it.
    pub fn from_yaml(yaml_text: &str) -> Result<Template, TemplateError> {
        let text = yaml::block_scalar(yaml_text, "user_template")
            .map_err(|error| TemplateError::Yaml { line: error.line, reason: error.reason })?;
        Template::parse(&text)
    }

    pub(crate) fn parse_with(text: &str, encoding: ValueEncoding) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal_start = 0;
        let mut search_from = 0;
        while let Some(found) = text[search_from..].find('{') {
            let open = search_from + found;
            search_from = open + 1;
            let Some(name) = identifier_in_braces(&text[open..]) else {
                continue;
            };
            let variable = Variable::from_name(name)
                .ok_or_else(|| TemplateError::UnknownVariable { name: name.to_owned(), offset: open })?;
            if literal_start < open {
                parts.push(Part::Text(text[literal_start..open].to_owned()));
            }
            parts.push(Part::Slot(variable));
            literal_start = open + name.len() + 2;
            search_from = literal_start;
        }
        if literal_start < text.len() {
            parts.push(Part::Text(text[literal_start..].to_owned()));
        }
        let template = Template { parts, encoding };
        if template.variables().next().is_none() {
            return Err(TemplateError::NoVariables);
        }
        Ok(template)
    }

    /// The variables the template uses, in order of first appearance, each once.
    pub fn variables(&self) -> impl Iterator<Item = Variable> + '_ {
        let mut seen = Vec::new();
        self.parts.iter().filter_map(move |part| match part {
            Part::Slot(variable) if !seen.contains(variable) => {
                seen.push(*variable);
                Some(*variable)
            }
            _ => None,
        })
    }

    pub(crate) fn parts(&self) -> &[Part] {
        &self.parts
    }

    pub(crate) fn encoding(&self) -> ValueEncoding {
        self.encoding
    }
}

/// `{identifier}` at the start of `text` → the identifier.
fn identifier_in_braces(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('{')?;
    let end = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    let name = &inner[..end];
    let starts_like_identifier = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    (starts_like_identifier && inner[end..].starts_with('}')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(template: &Template) -> Vec<String> {
        template.variables().map(|v| v.name()).collect()
    }

    #[test]
    fn slots_and_literal_braces() {
        let template = Template::parse("{\n \"a\": \"{user_input}\", {x y} {} {1} {{assistant_response}}").unwrap();
        assert_eq!(slots(&template), ["user_input", "assistant_response"]);
        assert_eq!(
            template.parts(),
            [
                Part::Text("{\n \"a\": \"".into()),
                Part::Slot(Variable::UserInput),
                Part::Text("\", {x y} {} {1} {".into()),
                Part::Slot(Variable::AssistantResponse),
                Part::Text("}".into()),
            ]
        );
    }

    #[test]
    fn unknown_variables_are_errors_with_their_place() {
        let error = Template::parse("Input: {user_imput}").unwrap_err();
        assert_eq!(error, TemplateError::UnknownVariable { name: "user_imput".into(), offset: 7 });
        assert!(error.to_string().contains("{user_imput}"), "{error}");
        for bad in ["{rubric_score_0_description}", "{rubric_score_01_description}", "{rubric_score__description}"] {
            assert!(matches!(Template::parse(bad), Err(TemplateError::UnknownVariable { .. })), "{bad}");
        }
    }

    #[test]
    fn a_template_without_variables_is_an_error() {
        assert_eq!(Template::parse("Judge this."), Err(TemplateError::NoVariables));
    }

    #[test]
    fn score_descriptions_of_any_scale() {
        let template = Template::parse("{rubric_score_10_description}").unwrap();
        assert_eq!(template.variables().collect::<Vec<_>>(), [Variable::RubricScoreDescription(10)]);
    }

    #[test]
    fn repeated_slots_are_listed_once() {
        let template = Template::parse("{user_input} and again {user_input}").unwrap();
        assert_eq!(slots(&template), ["user_input"]);
    }
}
