//! Finds the labels models put before their result and reasoning (`**Result:**`, `Score:`,
//! `[RESULT]`, `**Reasoning:**`, `Feedback:` …).
//!
//! A keyword counts as a marker only where it reads as a heading: bracketed, emphasized, at the
//! start of a line, or capitalized before a colon. Lowercase prose such as "the end result: a
//! mess" is not a marker, so reasoning that talks about results does not produce verdicts.

use super::text::{char_after, char_before, skip};

/// What a marker introduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MarkerKind {
    /// `Result` — the trained format.
    Result,
    /// `Score`, `Rating`, `Verdict`, `Judgment`, `Grade` — what other judges print.
    OtherResult,
    /// `Reasoning`, `Feedback`, `Explanation`, `Rationale`.
    Reasoning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Marker {
    pub kind: MarkerKind,
    /// Where the marker begins, including its markup (`**`, `[`, `## `).
    pub start: usize,
    /// Where the text it introduces begins.
    pub value_start: usize,
}

const KEYWORDS: [(&str, MarkerKind); 11] = [
    ("result", MarkerKind::Result),
    ("score", MarkerKind::OtherResult),
    ("rating", MarkerKind::OtherResult),
    ("verdict", MarkerKind::OtherResult),
    ("judgment", MarkerKind::OtherResult),
    ("judgement", MarkerKind::OtherResult),
    ("grade", MarkerKind::OtherResult),
    ("reasoning", MarkerKind::Reasoning),
    ("feedback", MarkerKind::Reasoning),
    ("explanation", MarkerKind::Reasoning),
    ("rationale", MarkerKind::Reasoning),
];

/// Words that may stand before a keyword at the start of a line ("Final Result:").
const QUALIFIERS: [&str; 3] = ["final", "overall", "my"];

fn is_markup(c: char) -> bool {
    matches!(c, '*' | '_' | '#' | '-' | '>' | '[' | '`')
}

/// Every marker in `text`, in order.
pub(super) fn find_markers(text: &str) -> Vec<Marker> {
    let lower = text.to_ascii_lowercase();
    let mut markers: Vec<Marker> = KEYWORDS
        .iter()
        .flat_map(|&(keyword, kind)| {
            lower.match_indices(keyword).filter_map(move |(at, _)| marker_at(text, at, at + keyword.len(), kind))
        })
        .collect();
    markers.sort_by_key(|marker| marker.start);
    markers
}

fn marker_at(text: &str, at: usize, end: usize, kind: MarkerKind) -> Option<Marker> {
    let is_word_char = |c: char| c.is_alphanumeric();
    if char_before(text, at).is_some_and(is_word_char) || char_after(text, end).is_some_and(is_word_char) {
        return None;
    }
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let at_line_start = is_line_prefix(&text[line_start..at]);
    let markup_start = before.trim_end_matches(['*', '_', '#', '[']).len();
    let start = if at_line_start { line_start } else { markup_start };

    if before.ends_with('[') && text[end..].starts_with(']') {
        let value_start = skip(text, end + 1, |c| c == ' ' || c == ':');
        return Some(Marker { kind, start, value_start });
    }

    let after_keyword = skip(text, end, |c| c == '*' || c == '_' || c == ' ' || c == '\t');
    if let Some(colon) = char_after(text, after_keyword).filter(|&c| c == ':' || c == '：') {
        let emphasized = before.ends_with("**") || before.ends_with("__");
        let capitalized = text[at..].starts_with(|c: char| c.is_ascii_uppercase());
        if !(at_line_start || emphasized || capitalized) {
            return None;
        }
        let value_start = skip(text, after_keyword + colon.len_utf8(), |c| c == '*' || c == '_');
        return Some(Marker { kind, start, value_start });
    }

    // A heading on a line of its own ("## Result", "**Result**"), its value on the next line.
    let line_end = text[end..].find('\n').map_or(text.len(), |newline| end + newline);
    let rest_is_markup = text[end..line_end].chars().all(|c| c.is_whitespace() || is_markup(c));
    (at_line_start && rest_is_markup).then_some(Marker { kind, start, value_start: line_end })
}

/// Whether the text between a line's start and a keyword is only markup and whitespace,
/// optionally with one qualifier word.
fn is_line_prefix(prefix: &str) -> bool {
    let words = prefix.trim_matches(|c: char| c.is_whitespace() || is_markup(c)).to_ascii_lowercase();
    words.is_empty() || QUALIFIERS.contains(&words.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_and_values(text: &str) -> Vec<(MarkerKind, &str)> {
        find_markers(text).into_iter().map(|m| (m.kind, &text[m.value_start..])).collect()
    }

    #[test]
    fn trained_format() {
        let text = "**Reasoning:** fine.\n\n**Result:** 4";
        assert_eq!(
            kinds_and_values(text),
            [(MarkerKind::Reasoning, " fine.\n\n**Result:** 4"), (MarkerKind::Result, " 4")]
        );
        assert_eq!(find_markers(text)[1].start, text.find("**Result").unwrap());
    }

    #[test]
    fn marker_spellings() {
        for text in [
            "Result: 4",
            "**Result**: 4",
            "__Result:__ 4",
            "RESULT: 4",
            "### Final Result: 4",
            "- Result : 4",
            "see below. [RESULT] 4",
            "The overall **Result:** 4",
            "**Result：** 4",
        ] {
            let markers = find_markers(text);
            assert_eq!(markers.len(), 1, "{text}");
            assert_eq!(text[markers[0].value_start..].trim_start(), "4", "{text}");
        }
    }

    #[test]
    fn prose_and_rubric_echoes_are_not_markers() {
        for text in [
            "the end result: a mess",
            "Score 1: The response is devoid of humor.",
            "Score Rubrics:\n[Is it funny?]",
            "Results: many",
            "a scoreboard: 4",
            "the judgment of the model",
        ] {
            assert_eq!(find_markers(text), [], "{text}");
        }
    }

    #[test]
    fn headings_take_the_next_line() {
        let text = "## Result\nB";
        assert_eq!(kinds_and_values(text), [(MarkerKind::Result, "\nB")]);
        assert_eq!(find_markers("the Result\nB"), []);
    }
}
