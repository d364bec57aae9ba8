//! Reads a label where a result should be: after a marker, on a last line, inside `[[…]]`.
//!
//! The reader accepts the many ways models write one label (`4`, `**4**`, `4/5`, `4 out of 5`,
//! `Response A`, `[[B]]`, `yes`) and refuses to choose when the text offers more than one
//! (`3 or 4`, `A/B`) or something that is not a label (`4.5`, `6` on a 1-5 scale, `Tie`): a
//! refused reading becomes a parse failure with that reason, never a guess.

use std::ops::Range;

use super::text::{char_after, char_before, line_end, line_excerpt, skip};
use crate::label::{Label, LabelSet};

/// What was found at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reading {
    /// A label; `span` covers its core text (the digits, the letter, the word).
    Label { label: Label, span: Range<usize> },
    /// Something meant as a result that is not one valid label.
    Invalid(String),
    /// Nothing that looks like a result.
    Nothing,
}

/// A label-like token read at one offset.
struct Token {
    outcome: Result<(Label, Range<usize>), String>,
    /// The end of everything the token consumed (denominators and prefixes included).
    end: usize,
    /// Whether the token carries its own evidence of being a result (`4/5`, `Response A`,
    /// `[[A]]`), which lets it count even amid prose.
    qualified: bool,
}

const OPENING: [char; 12] = ['*', '_', '`', '"', '\'', '“', '‘', '«', '<', '(', '[', '{'];
const CLOSING: [char; 12] = ['*', '_', '`', '"', '\'', '”', '’', '»', '>', ')', ']', '}'];
const CONNECTORS: [&str; 12] = ["or", "and", "to", "vs", "versus", "/", "-", "–", "—", ",", "|", "&"];
/// Words that name a response before its letter: "Response A", "Assistant B", "Output (a)".
const SIDE_PREFIXES: [&str; 8] =
    ["response", "assistant", "output", "answer", "option", "model", "candidate", "chatbot"];
/// Words a bare capital "A"/"B" may be followed by and still be the result ("A is better"),
/// unlike the article in "A thorough comparison…".
const SIDE_VERBS: [&str; 12] = [
    "is",
    "was",
    "wins",
    "better",
    "performs",
    "provides",
    "outperforms",
    "has",
    "does",
    "follows",
    "answers",
    "offers",
];
const TIE_WORDS: [&str; 6] = ["tie", "both", "neither", "equal", "draw", "none"];
/// Words that make a following bare number a result when scanning prose ("a score of 4").
const SCORE_WORDS: [&str; 3] = ["score", "rating", "grade"];

/// Reads the value a marker introduces, starting at `from`.
pub(super) fn read_marker_value(text: &str, from: usize, labels: LabelSet) -> Reading {
    let at = skip(text, from, |c| c.is_whitespace() || OPENING.contains(&c));
    if at == text.len() {
        return Reading::Nothing;
    }
    match token_at(text, at, labels) {
        Some(token) => match token.outcome {
            Ok((label, span)) => unambiguous(text, label, span, token.end, labels),
            Err(reason) => Reading::Invalid(reason),
        },
        None => scan_line(text, at, labels),
    }
}

/// Reads a line that must hold a label and nothing else but markup.
pub(super) fn read_bare_line(text: &str, line: Range<usize>, labels: LabelSet) -> Reading {
    let is_trimmed = |c: char| c.is_whitespace() || OPENING.contains(&c) || CLOSING.contains(&c) || "#.!:".contains(c);
    let start = skip(text, line.start, is_trimmed).min(line.end);
    let end = line.start + text[line.start..line.end].trim_end_matches(is_trimmed).len();
    if start >= end {
        return Reading::Nothing;
    }
    match token_at(text, start, labels) {
        Some(token) if token.end == end => match token.outcome {
            Ok((label, span)) => Reading::Label { label, span },
            Err(reason) => Reading::Invalid(reason),
        },
        _ => Reading::Nothing,
    }
}

/// Reads every `[[…]]` that holds a label, with the offset of its `[[`.
pub(super) fn read_double_brackets(text: &str, labels: LabelSet) -> Vec<(usize, Reading)> {
    text.match_indices("[[")
        .filter_map(|(open, _)| {
            let inner_start = open + 2;
            let close = inner_start + text[inner_start..].find("]]")?;
            let inner = &text[inner_start..close];
            if inner.len() > 20 || inner.contains('\n') {
                return None;
            }
            let reading = read_bare_line(text, inner_start..close, labels);
            (reading != Reading::Nothing).then_some((open, reading))
        })
        .collect()
}

/// A label read at `at`, refused if another label is offered beside it ("3 or 4").
fn unambiguous(text: &str, label: Label, span: Range<usize>, end: usize, labels: LabelSet) -> Reading {
    let after = skip(text, end, |c| c == ' ' || c == '\t' || CLOSING.contains(&c));
    let rest = &text[after..];
    let connector = CONNECTORS.iter().find(|connector| {
        rest.get(..connector.len()).is_some_and(|head| head.eq_ignore_ascii_case(connector))
            && (!connector.starts_with(char::is_alphabetic)
                || !char_after(text, after + connector.len()).is_some_and(char::is_alphanumeric))
    });
    if let Some(connector) = connector {
        let second_at = skip(text, after + connector.len(), |c| c == ' ' || c == '\t' || OPENING.contains(&c));
        if let Some(second) = token_at(text, second_at, labels) {
            // "Yes, no doubt about it" offers one answer; "Yes or No" offers two.
            let prose = labels == LabelSet::YesNo && second.outcome.is_ok() && is_followed_by_word(text, second.end);
            if !prose {
                return Reading::Invalid(format!("ambiguous result: `{}`", line_excerpt(text, span.start)));
            }
        }
    }
    Reading::Label { label, span }
}

/// Looks along the rest of the line for qualified labels ("the score is 4/5", "Response B is
/// better"); exactly one distinct label is a result.
fn scan_line(text: &str, from: usize, labels: LabelSet) -> Reading {
    if labels == LabelSet::YesNo {
        // A yes or a no in prose ("no errors") is no evidence of the verdict.
        return Reading::Nothing;
    }
    let end = line_end(text, from);
    let mut found: Vec<(Label, Range<usize>)> = Vec::new();
    for (offset, c) in text[from..end].char_indices() {
        let at = from + offset;
        if !(c.is_alphanumeric() || c == '-') || char_before(text, at).is_some_and(char::is_alphanumeric) {
            continue;
        }
        let Some(token) = token_at(text, at, labels) else { continue };
        if !(token.qualified || follows_score_word(text, at)) {
            continue;
        }
        match token.outcome {
            Ok((label, span)) => found.push((label, span)),
            Err(reason) => return Reading::Invalid(reason),
        }
    }
    let mut distinct: Vec<Label> = found.iter().map(|(label, _)| *label).collect();
    distinct.sort();
    distinct.dedup();
    match distinct.len() {
        0 => Reading::Nothing,
        1 => {
            let (label, span) = found.swap_remove(0);
            Reading::Label { label, span }
        }
        _ => Reading::Invalid(format!("ambiguous result: `{}`", line_excerpt(text, from))),
    }
}

/// A label-like token starting exactly at `at`, or `None` if there is none there.
fn token_at(text: &str, at: usize, labels: LabelSet) -> Option<Token> {
    match labels {
        LabelSet::Scores { min, max } => score_at(text, at, min, max),
        LabelSet::YesNo => yes_no_at(text, at),
        LabelSet::AB => side_at(text, at),
    }
}

fn score_at(text: &str, at: usize, min: u32, max: u32) -> Option<Token> {
    let negative = text[at..].starts_with('-');
    let digits_start = at + usize::from(negative);
    let digits_end = skip(text, digits_start, |c| c.is_ascii_digit());
    if digits_start == digits_end || char_after(text, digits_end).is_some_and(char::is_alphanumeric) {
        return None;
    }
    let mut end = digits_end;
    let invalid = |reason: String, end: usize| Some(Token { outcome: Err(reason), end, qualified: false });

    if let Some(fraction) = text[end..].strip_prefix('.') {
        let fraction_len = fraction.len() - fraction.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if fraction_len > 0 {
            end += 1 + fraction_len;
            if fraction[..fraction_len].bytes().any(|b| b != b'0') {
                return invalid(format!("`{}` is not a whole number", &text[at..end]), end);
            }
        }
    }
    if text[end..].starts_with(',') && char_after(text, end + 1).is_some_and(|c| c.is_ascii_digit()) {
        return invalid(format!("ambiguous result: `{}`", line_excerpt(text, at)), end);
    }
    let denominator = denominator_at(text, end);
    let qualified = denominator.is_some();
    if let Some((denominator, denominator_end)) = denominator {
        end = denominator_end;
        if denominator != u64::from(max) {
            let shown = &text[at..end];
            return Some(Token {
                outcome: Err(format!("`{shown}` is not a score on the {min}-{max} scale")),
                end,
                qualified,
            });
        }
    }
    let value = text[digits_start..digits_end].parse::<u32>().ok().filter(|v| !negative && (min..=max).contains(v));
    let outcome = match value {
        Some(value) => Ok((Label::Score(value), digits_start..digits_end)),
        None => Err(format!("score `{}` is outside the scale {min}-{max}", &text[at..digits_end])),
    };
    Some(Token { outcome, end, qualified })
}

/// `/5` or `out of 5` after a number.
fn denominator_at(text: &str, end: usize) -> Option<(u64, usize)> {
    let after_space = skip(text, end, |c| c == ' ');
    let rest = &text[after_space..];
    let operator_len = if rest.starts_with('/') {
        1
    } else if rest.get(..6).is_some_and(|head| head.eq_ignore_ascii_case("out of")) {
        6
    } else {
        return None;
    };
    let digits_start = skip(text, after_space + operator_len, |c| c == ' ');
    let digits_end = skip(text, digits_start, |c| c.is_ascii_digit());
    let value = text[digits_start..digits_end].parse().ok()?;
    Some((value, digits_end))
}

fn yes_no_at(text: &str, at: usize) -> Option<Token> {
    let word = word_at(text, at);
    let label = if word.eq_ignore_ascii_case("yes") {
        Label::Yes
    } else if word.eq_ignore_ascii_case("no") {
        Label::No
    } else {
        return None;
    };
    let end = at + word.len();
    Some(Token { outcome: Ok((label, at..end)), end, qualified: false })
}

fn side_at(text: &str, at: usize) -> Option<Token> {
    let word = word_at(text, at);
    let lower = word.to_lowercase();
    if TIE_WORDS.contains(&lower.as_str()) {
        let reason = format!("`{word}` is not a valid pairwise result: the choice is A or B");
        return Some(Token { outcome: Err(reason), end: at + word.len(), qualified: false });
    }
    if SIDE_PREFIXES.contains(&lower.as_str()) {
        let letter_at = skip(text, at + word.len(), |c| c == ' ' || c == '(' || c == '[' || c == '*' || c == '_');
        let letter = word_at(text, letter_at);
        let side = side_letter(letter)?;
        return Some(Token { outcome: Ok((side, letter_at..letter_at + 1)), end: letter_at + 1, qualified: true });
    }
    let side = side_letter(word)?;
    let end = at + 1;
    let bracketed = text[..at].ends_with("[[") && text[end..].starts_with("]]");
    let stands_alone = match text[end..].chars().next() {
        None | Some('\n' | '\r') => true,
        Some(c) if !c.is_whitespace() => true,
        Some(_) => {
            let next_at = skip(text, end, |c| c == ' ' || c == '\t');
            match char_after(text, next_at) {
                None | Some('\n' | '\r') => true,
                Some(c) if !c.is_alphanumeric() => true,
                Some(_) => {
                    let next_word = word_at(text, next_at).to_lowercase();
                    // A connector keeps the letter so that "A or B" is seen as ambiguous.
                    CONNECTORS.contains(&next_word.as_str())
                        || word.starts_with(|c: char| c.is_ascii_uppercase())
                            && SIDE_VERBS.contains(&next_word.as_str())
                }
            }
        }
    };
    stands_alone.then_some(Token { outcome: Ok((side, at..end)), end, qualified: bracketed })
}

fn side_letter(word: &str) -> Option<Label> {
    match word {
        "A" | "a" => Some(Label::A),
        "B" | "b" => Some(Label::B),
        _ => None,
    }
}

/// The run of letters starting at `at`.
fn word_at(text: &str, at: usize) -> &str {
    &text[at..skip(text, at, char::is_alphabetic)]
}

fn is_followed_by_word(text: &str, end: usize) -> bool {
    let next = skip(text, end, |c| c == ' ' || c == '\t');
    next > end && char_after(text, next).is_some_and(char::is_alphabetic)
}

/// Whether the text before `at` ends in "score", "rating of", "grade:", "score is a" ….
fn follows_score_word(text: &str, at: usize) -> bool {
    let window_start = (at.saturating_sub(40)..at).find(|&i| text.is_char_boundary(i)).unwrap_or(at);
    let mut before = text[window_start..at].to_ascii_lowercase();
    loop {
        let trimmed = before.trim_end_matches([' ', ':', '=', '*', '_']);
        let shorter = ["of", "is", "a", "an"]
            .iter()
            .find_map(|filler| trimmed.strip_suffix(filler).filter(|rest| rest.ends_with(' ')));
        match shorter {
            Some(rest) => before = rest.to_owned(),
            None => {
                return SCORE_WORDS
                    .iter()
                    .any(|word| trimmed.strip_suffix(word).is_some_and(|rest| !rest.ends_with(char::is_alphanumeric)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE: LabelSet = LabelSet::SCORES_1_TO_5;

    fn read(text: &str, labels: LabelSet) -> Result<Label, String> {
        match read_marker_value(text, 0, labels) {
            Reading::Label { label, span } => {
                assert!(!text[span].is_empty());
                Ok(label)
            }
            Reading::Invalid(reason) => Err(reason),
            Reading::Nothing => Err("nothing".to_owned()),
        }
    }

    #[test]
    fn scores() {
        for (text, score) in [
            (" 4", 4),
            ("**4**", 4),
            ("4/5", 4),
            ("4 / 5", 4),
            ("4 out of 5", 4),
            ("[4]", 4),
            ("4.", 4),
            ("4.0", 4),
            ("\n\n3\n", 3),
            ("5 - excellent", 5),
            ("4 (mostly accurate)", 4),
            ("The score is 2/5 because", 2),
            ("I would give it a score of 3.", 3),
        ] {
            assert_eq!(read(text, FIVE), Ok(Label::Score(score)), "{text:?}");
        }
    }

    #[test]
    fn refused_scores() {
        for (text, reason) in [
            ("3 or 4", "ambiguous"),
            ("3-4", "ambiguous"),
            ("4.5", "whole number"),
            ("6", "outside"),
            ("0", "outside"),
            ("-1", "outside"),
            ("4/10", "not a score on the 1-5 scale"),
            ("3,5", "ambiguous"),
            ("It gets 4/5 from me, or maybe 3/5", "ambiguous"),
            ("a score of 7", "outside"),
            ("The response is good", "nothing"),
            ("It meets 3 criteria", "nothing"),
        ] {
            let error = read(text, FIVE).unwrap_err();
            assert!(error.contains(reason), "{text:?}: {error}");
        }
        assert_eq!(read("10", LabelSet::Scores { min: 1, max: 10 }), Ok(Label::Score(10)));
        assert_eq!(read("7 out of 10", LabelSet::Scores { min: 1, max: 10 }), Ok(Label::Score(7)));
    }

    #[test]
    fn sides() {
        for (text, side) in [
            ("A", Label::A),
            (" **B**", Label::B),
            ("Response A", Label::A),
            ("response (b)", Label::B),
            ("[[A]]", Label::A),
            ("A is better.", Label::A),
            ("b\n", Label::B),
            ("A thorough look shows Response B wins", Label::B),
            ("Assistant B", Label::B),
            ("Response A is better than Response B", Label::A),
        ] {
            assert_eq!(read(text, LabelSet::AB), Ok(side), "{text:?}");
        }
        for (text, reason) in [
            ("A or B", "ambiguous"),
            ("<A or B>", "ambiguous"),
            ("A/B", "ambiguous"),
            ("Tie", "not a valid pairwise result"),
            ("Both are good", "not a valid pairwise result"),
            ("Response A or Response B", "ambiguous"),
            ("a tie", "nothing"),
            ("C", "nothing"),
        ] {
            let error = read(text, LabelSet::AB).unwrap_err();
            assert!(error.contains(reason), "{text:?}: {error}");
        }
    }

    #[test]
    fn yes_and_no() {
        for (text, label) in [
            ("Yes", Label::Yes),
            ("no.", Label::No),
            ("YES", Label::Yes),
            ("**No**", Label::No),
            ("Yes, no doubt", Label::Yes),
        ] {
            assert_eq!(read(text, LabelSet::YesNo), Ok(label), "{text:?}");
        }
        assert!(read("Yes or No", LabelSet::YesNo).unwrap_err().contains("ambiguous"));
        assert!(read("Yes/No", LabelSet::YesNo).unwrap_err().contains("ambiguous"));
        assert_eq!(read("Nothing wrong, so yes", LabelSet::YesNo), Err("nothing".to_owned()));
    }

    #[test]
    fn bare_lines_and_brackets() {
        let text = "blah\n**Response B**.";
        let line = text.find('\n').unwrap() + 1..text.len();
        assert!(matches!(read_bare_line(text, line, LabelSet::AB), Reading::Label { label: Label::B, .. }));
        assert_eq!(read_bare_line("B is the one", 0..12, LabelSet::AB), Reading::Nothing);
        let readings = read_double_brackets("verdict [[B]] and [[x]] [[A]]", LabelSet::AB);
        assert_eq!(readings.len(), 2);
    }
}
