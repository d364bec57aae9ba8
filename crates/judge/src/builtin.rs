//! The templates shipped inside the crate, by name.
//!
//! The five trained templates are Atla's YAML files, embedded unchanged (with their LICENSE and
//! NOTICE.md beside them in `templates/`) so that the text the model sees is the text it was
//! trained on. The pairwise formats of the paper's robustness study live in
//! `templates/pairwise-formats/`, whose README gives their provenance and the few editorial
//! fixes undoing the PDF's rendering.

use crate::item::{JudgeItem, TaskInput};
use crate::template::{Template, ValueEncoding};

/// A template shipped with the crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinTemplate {
    /// `absolute-scoring.yaml` (trained).
    Absolute,
    /// `absolute-scoring-with-reference.yaml` (trained).
    AbsoluteWithReference,
    /// `classification.yaml` (trained).
    Classification,
    /// `classification-with-reference.yaml` (trained).
    ClassificationWithReference,
    /// `pairwise.yaml` (trained): needs a rubric objective.
    Pairwise,
    /// The robustness study's "original" pairwise format: the trained pairwise text with
    /// RewardBench's rules and no rubric. The default for pairwise items without a rubric.
    PairwiseOriginal,
    /// Appendix E, Markdown sections.
    PairwiseMarkdown,
    /// Appendix E, a JSON document; values are written JSON-escaped so it stays valid JSON
    /// (the paper does not say how it filled this template; escaping is this crate's choice).
    PairwiseJson,
    /// Appendix E, PrePair: pros and cons of each response before the result.
    PairwisePrePair,
    /// Appendix E, simplified instructions.
    PairwiseSimplified,
}

const ALL: [BuiltinTemplate; 10] = [
    BuiltinTemplate::Absolute,
    BuiltinTemplate::AbsoluteWithReference,
    BuiltinTemplate::Classification,
    BuiltinTemplate::ClassificationWithReference,
    BuiltinTemplate::Pairwise,
    BuiltinTemplate::PairwiseOriginal,
    BuiltinTemplate::PairwiseMarkdown,
    BuiltinTemplate::PairwiseJson,
    BuiltinTemplate::PairwisePrePair,
    BuiltinTemplate::PairwiseSimplified,
];

enum Source {
    Yaml(&'static str),
    Text(&'static str, ValueEncoding),
}

impl BuiltinTemplate {
    /// Every built-in template.
    pub fn all() -> &'static [BuiltinTemplate] {
        &ALL
    }

    /// The name used to select it, e.g. `absolute-with-reference` or `pairwise-markdown`.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinTemplate::Absolute => "absolute",
            BuiltinTemplate::AbsoluteWithReference => "absolute-with-reference",
            BuiltinTemplate::Classification => "classification",
            BuiltinTemplate::ClassificationWithReference => "classification-with-reference",
            BuiltinTemplate::Pairwise => "pairwise",
            BuiltinTemplate::PairwiseOriginal => "pairwise-original",
            BuiltinTemplate::PairwiseMarkdown => "pairwise-markdown",
            BuiltinTemplate::PairwiseJson => "pairwise-json",
            BuiltinTemplate::PairwisePrePair => "pairwise-prepair",
            BuiltinTemplate::PairwiseSimplified => "pairwise-simplified",
        }
    }

    /// The template with this [`name`](Self::name), if any.
    pub fn from_name(name: &str) -> Option<BuiltinTemplate> {
        ALL.into_iter().find(|builtin| builtin.name() == name)
    }

    /// The trained template for the item's task, with or without a reference; pairwise items
    /// without a rubric get [`PairwiseOriginal`](Self::PairwiseOriginal).
    pub fn for_item(item: &JudgeItem) -> BuiltinTemplate {
        match &item.task {
            TaskInput::Absolute { reference: None, .. } => BuiltinTemplate::Absolute,
            TaskInput::Absolute { reference: Some(_), .. } => BuiltinTemplate::AbsoluteWithReference,
            TaskInput::Classification { reference: None, .. } => BuiltinTemplate::Classification,
            TaskInput::Classification { reference: Some(_), .. } => BuiltinTemplate::ClassificationWithReference,
            TaskInput::Pairwise { objective: Some(_), .. } => BuiltinTemplate::Pairwise,
            TaskInput::Pairwise { objective: None, .. } => BuiltinTemplate::PairwiseOriginal,
        }
    }

    /// The parsed template.
    pub fn template(self) -> Template {
        let parsed = match self.source() {
            Source::Yaml(yaml) => Template::from_yaml(yaml),
            Source::Text(text, encoding) => Template::parse_with(text, encoding),
        };
        // Embedded text; `every_builtin_parses` keeps this from failing.
        parsed.unwrap_or_else(|error| panic!("built-in template `{}` is broken: {error}", self.name()))
    }

    fn source(self) -> Source {
        use ValueEncoding::{JsonString, Verbatim};
        match self {
            BuiltinTemplate::Absolute => Source::Yaml(include_str!("../templates/absolute-scoring.yaml")),
            BuiltinTemplate::AbsoluteWithReference => {
                Source::Yaml(include_str!("../templates/absolute-scoring-with-reference.yaml"))
            }
            BuiltinTemplate::Classification => Source::Yaml(include_str!("../templates/classification.yaml")),
            BuiltinTemplate::ClassificationWithReference => {
                Source::Yaml(include_str!("../templates/classification-with-reference.yaml"))
            }
            BuiltinTemplate::Pairwise => Source::Yaml(include_str!("../templates/pairwise.yaml")),
            BuiltinTemplate::PairwiseOriginal => {
                Source::Text(include_str!("../templates/pairwise-formats/original.txt"), Verbatim)
            }
            BuiltinTemplate::PairwiseMarkdown => {
                Source::Text(include_str!("../templates/pairwise-formats/markdown.txt"), Verbatim)
            }
            BuiltinTemplate::PairwiseJson => {
                Source::Text(include_str!("../templates/pairwise-formats/json.txt"), JsonString)
            }
            BuiltinTemplate::PairwisePrePair => {
                Source::Text(include_str!("../templates/pairwise-formats/prepair.txt"), Verbatim)
            }
            BuiltinTemplate::PairwiseSimplified => {
                Source::Text(include_str!("../templates/pairwise-formats/simplified.txt"), Verbatim)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Variable;

    #[test]
    fn every_builtin_parses_and_names_round_trip() {
        for &builtin in BuiltinTemplate::all() {
            let template = builtin.template();
            assert!(template.variables().any(|v| v == Variable::UserInput), "{}", builtin.name());
            assert_eq!(BuiltinTemplate::from_name(builtin.name()), Some(builtin));
        }
        assert_eq!(BuiltinTemplate::from_name("Pairwise"), None);
    }

    #[test]
    fn only_the_trained_pairwise_template_asks_for_a_rubric() {
        for &builtin in BuiltinTemplate::all() {
            let variables: Vec<Variable> = builtin.template().variables().collect();
            let pairwise = variables.contains(&Variable::AssistantResponseA);
            let has_rubric = variables.contains(&Variable::RubricObjective);
            if pairwise {
                assert_eq!(has_rubric, builtin == BuiltinTemplate::Pairwise, "{}", builtin.name());
            }
        }
    }
}
