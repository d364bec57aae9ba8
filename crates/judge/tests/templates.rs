//! Built-in templates render byte for byte as an independent Python implementation fills them
//! (tests/golden/templates.py), user text stays data, and mismatches between item and template
//! are reported by field.

use selene_judge::{BuiltinTemplate, JudgeItem, PromptPart, RenderError, Template, TemplateError, Variable, render};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    cases: Vec<GoldenCase>,
}

#[derive(Deserialize)]
struct GoldenCase {
    template: String,
    item: JudgeItem,
    expected: String,
}

fn golden() -> Vec<GoldenCase> {
    let text = include_str!("golden/templates.json");
    serde_json::from_str::<Golden>(text).expect("templates.json parses").cases
}

#[test]
fn every_builtin_renders_exactly_as_python_fills_it() {
    let cases = golden();
    assert_eq!(cases.len(), BuiltinTemplate::all().len());
    for case in cases {
        let builtin = BuiltinTemplate::from_name(&case.template).expect("a built-in name");
        let template = builtin.template();
        let prompt = render(&template, &case.item).unwrap_or_else(|e| panic!("{}: {e}", case.template));
        assert_eq!(prompt.text(), case.expected, "{}", case.template);
    }
}

#[test]
fn items_select_their_trained_template() {
    for case in golden() {
        let chosen = BuiltinTemplate::for_item(&case.item);
        let appendix_format = ["markdown", "json", "prepair", "simplified"].iter().any(|f| case.template.ends_with(f));
        if !appendix_format {
            assert_eq!(chosen.name(), case.template);
        }
    }
}

#[test]
fn user_text_is_literal_data() {
    for case in golden() {
        let template = BuiltinTemplate::from_name(&case.template).unwrap().template();
        let prompt = render(&template, &case.item).unwrap();
        let text = prompt.text();
        // The slots named inside user text were not filled: they appear literally, in data.
        let data: Vec<&str> = prompt.data_ranges().into_iter().map(|range| &text[range]).collect();
        assert!(data.iter().any(|d| d.contains("{user_input}")), "{}", case.template);
        assert!(data.iter().any(|d| d.contains("<|eot_id|>")), "{}", case.template);
        assert!(data.iter().any(|d| d.contains("{short}")), "{}", case.template);
        // No special-token text and no slot syntax comes from the template itself.
        for segment in prompt.segments() {
            if let PromptPart::Template(text) = segment {
                assert!(!text.contains("<|"), "{}: {text}", case.template);
                assert!(!text.contains("{user_input}"), "{}: {text}", case.template);
            }
        }
        // Segments concatenate to the text, and data ranges cover exactly the data segments.
        let data_segments: Vec<&str> =
            prompt.segments().iter().filter(|s| matches!(s, PromptPart::Data { .. })).map(PromptPart::text).collect();
        assert_eq!(data, data_segments);
    }
}

#[test]
fn data_segments_name_their_variable() {
    let item: JudgeItem = serde_json::from_str(
        r#"{"task": "pairwise", "user_input": "u", "response_a": "first", "response_b": "second"}"#,
    )
    .unwrap();
    let template = Template::parse("Q: {user_input}\nA: {assistant_response_a}\nB: {assistant_response_b}").unwrap();
    let prompt = render(&template, &item).unwrap();
    let data: Vec<(Variable, &str)> = prompt
        .segments()
        .iter()
        .filter_map(|s| match s {
            PromptPart::Data { variable, text } => Some((*variable, text.as_ref())),
            PromptPart::Template(_) => None,
        })
        .collect();
    assert_eq!(
        data,
        [(Variable::UserInput, "u"), (Variable::AssistantResponseA, "first"), (Variable::AssistantResponseB, "second")]
    );
    assert_eq!(prompt.data_ranges(), [3..4, 8..13, 17..23]);
}

#[test]
fn custom_templates_must_match_the_item() {
    let item: JudgeItem = serde_json::from_str(
        r#"{"task": "classification", "user_input": "u", "response": "r", "reference": "ref",
            "rubric": {"objective": "o", "yes": "y", "no": "n"}}"#,
    )
    .unwrap();
    let complete = "{user_input} {assistant_response} {rubric_objective} {rubric_yes_description} \
                    {rubric_no_description} {reference_response}";
    let template = Template::parse(complete).unwrap();
    assert_eq!(render(&template, &item).unwrap().text(), "u r o y n ref");

    let without_reference = Template::parse(&complete.replace(" {reference_response}", "")).unwrap();
    let error = render(&without_reference, &item).unwrap_err();
    assert_eq!(error, RenderError::UnusedValue { variable: Variable::ReferenceResponse, field: "reference".into() });
    assert!(error.to_string().contains("`reference`"));

    let with_scores = Template::parse(&format!("{complete} {{rubric_score_1_description}}")).unwrap();
    let error = render(&with_scores, &item).unwrap_err();
    assert_eq!(
        error,
        RenderError::MissingValue { variable: Variable::RubricScoreDescription(1), field: "rubric.scores[0]".into() }
    );

    assert!(matches!(Template::parse("{user_input} {answer}"), Err(TemplateError::UnknownVariable { .. })));
}

#[test]
fn the_trained_templates_take_exactly_five_scores() {
    let item: JudgeItem = serde_json::from_str(
        r#"{"task": "absolute", "user_input": "u", "response": "r",
            "rubric": {"objective": "o", "scores": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]}}"#,
    )
    .unwrap();
    let error = render(&BuiltinTemplate::Absolute.template(), &item).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the item's `rubric.scores[5]` has no place in the template (it does not use {rubric_score_6_description})"
    );
    let ten: String = (1..=10).map(|n| format!("Score {n}: {{rubric_score_{n}_description}}\n")).collect();
    let custom =
        Template::parse(&format!("{{user_input}}\n{{assistant_response}}\n[{{rubric_objective}}]\n{ten}")).unwrap();
    assert!(render(&custom, &item).unwrap().text().ends_with("Score 10: 10\n"));
}

#[test]
fn yaml_templates_from_users() {
    let yaml = "# my template\nuser_template: |-\n  Judge {assistant_response}\n\n  for {user_input}\n";
    let template = Template::from_yaml(yaml).unwrap();
    let item: JudgeItem =
        serde_json::from_str(r#"{"task": "pairwise", "user_input": "u", "response_a": "a", "response_b": "b"}"#)
            .unwrap();
    assert!(matches!(render(&template, &item), Err(RenderError::UnusedValue { .. })));
    assert_eq!(template.variables().collect::<Vec<_>>(), [Variable::AssistantResponse, Variable::UserInput]);
    assert!(matches!(Template::from_yaml("user_template: plain"), Err(TemplateError::Yaml { line: 1, .. })));
}
