//! The parser against hand-written judge outputs (tests/data/outputs.jsonl): Selene's trained
//! format and its variants, other judges' formats, chatty, truncated, repeated, ambiguous and
//! empty outputs. Each row: `task`, `text`, `expected` (a label or `"fail"`), and optionally
//! `scale_max` (absolute scale 1..=scale_max, default 5), `reasoning` (the expected reasoning,
//! `null` for none) and `note`.

use selene_judge::{Label, LabelSet, parse_verdict};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    task: String,
    text: String,
    expected: serde_json::Value,
    scale_max: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    reasoning: Option<Option<String>>,
    note: Option<String>,
}

/// Tells a `"reasoning": null` (expect none) from an absent field (not checked).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

fn rows() -> Vec<Row> {
    include_str!("data/outputs.jsonl")
        .lines()
        .enumerate()
        .map(|(index, line)| serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", index + 1)))
        .collect()
}

fn labels(row: &Row) -> LabelSet {
    match row.task.as_str() {
        "absolute" => LabelSet::Scores { min: 1, max: row.scale_max.unwrap_or(5) },
        "classification" => LabelSet::YesNo,
        "pairwise" => LabelSet::AB,
        other => panic!("unknown task {other}"),
    }
}

#[test]
fn parses_realistic_outputs() {
    let rows = rows();
    assert!(rows.len() >= 200, "only {} outputs", rows.len());
    let mut mismatches = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let expected: Option<Label> = match &row.expected {
            serde_json::Value::String(fail) if fail == "fail" => None,
            label => Some(serde_json::from_value(label.clone()).expect("a label or \"fail\"")),
        };
        let parsed = parse_verdict(&row.text, labels(row));
        let got = parsed.as_ref().ok().map(|verdict| verdict.result);
        if got != expected {
            let note = row.note.as_deref().unwrap_or("");
            mismatches.push(format!(
                "line {} {note}: expected {expected:?}, got {parsed:?}\n    {:?}",
                index + 1,
                row.text
            ));
            continue;
        }
        if let (Some(expected_reasoning), Ok(verdict)) = (&row.reasoning, &parsed)
            && &verdict.reasoning != expected_reasoning
        {
            let reasoning = &verdict.reasoning;
            mismatches.push(format!("line {}: reasoning {reasoning:?}, expected {expected_reasoning:?}", index + 1));
        }
        if let Err(failure) = &parsed {
            assert!(!failure.reason.is_empty(), "line {}: a failure without a reason", index + 1);
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} outputs misread:\n{}",
        mismatches.len(),
        rows.len(),
        mismatches.join("\n")
    );
}

#[test]
fn the_data_covers_every_task_and_both_outcomes() {
    let rows = rows();
    for task in ["absolute", "classification", "pairwise"] {
        let of_task: Vec<&Row> = rows.iter().filter(|row| row.task == task).collect();
        assert!(of_task.iter().filter(|row| row.expected == "fail").count() >= 5, "{task}");
        assert!(of_task.iter().filter(|row| row.expected != "fail").count() >= 20, "{task}");
    }
}

#[test]
fn result_spans_point_at_the_value() {
    for row in rows() {
        if let Ok(verdict) = parse_verdict(&row.text, labels(&row)) {
            let shown = &row.text[verdict.result_span.clone()];
            let label = verdict.result.to_string();
            assert!(shown.eq_ignore_ascii_case(&label), "{:?}: span {shown:?} for {label}", row.text);
        }
    }
}
