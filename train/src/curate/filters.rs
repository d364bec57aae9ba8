//! The paper's filters on raw data (§2.1, §2.3): null values, characters outside the Latin and
//! Greek scripts, duplicates, and a reward-model score threshold.

use std::collections::HashSet;

/// Whether a value counts as null: absent, JSON null, or only whitespace.
pub fn is_null(value: Option<&str>) -> bool {
    value.is_none_or(|v| v.trim().is_empty())
}

/// The first letter of `text` that is not Latin or Greek, if any. Only letters are judged:
/// digits, punctuation, symbols and emoji appear in text of every language.
pub fn foreign_letter(text: &str) -> Option<char> {
    text.chars().find(|&c| c.is_alphabetic() && !latin_or_greek(c))
}

/// Unicode blocks of the Latin and Greek scripts (with the combining marks and modifier letters
/// they use).
fn latin_or_greek(c: char) -> bool {
    matches!(c as u32,
        0x0000..=0x024F      // Basic Latin, Latin-1 Supplement, Latin Extended-A and -B
        | 0x0250..=0x036F    // IPA Extensions, Spacing Modifier Letters, Combining Diacritical Marks
        | 0x0370..=0x03FF    // Greek and Coptic
        | 0x1D00..=0x1DFF    // Phonetic Extensions, Combining Diacritical Marks Supplement
        | 0x1E00..=0x1FFF    // Latin Extended Additional, Greek Extended
        | 0x2070..=0x209F    // Superscripts and Subscripts
        | 0x2100..=0x214F    // Letterlike Symbols (ℓ, ℝ, K)
        | 0x2C60..=0x2C7F    // Latin Extended-C
        | 0xA720..=0xA7FF    // Latin Extended-D
        | 0xAB30..=0xAB6F    // Latin Extended-E
        | 0xFB00..=0xFB06    // Latin ligatures (ﬁ)
        | 0xFF21..=0xFF3A    // Fullwidth Latin capitals
        | 0xFF41..=0xFF5A    // Fullwidth Latin small letters
        | 0x1D400..=0x1D7FF  // Mathematical Alphanumeric Symbols
    )
}

/// Remembers what it has seen, by exact content.
#[derive(Default)]
pub struct Dedupe {
    seen: HashSet<String>,
}

impl Dedupe {
    /// Whether `key` was seen before (and remembers it).
    pub fn is_duplicate(&mut self, key: &str) -> bool {
        !self.seen.insert(key.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts() {
        for ok in ["Hello, world!", "Ça déjà vu — naïve façade", "Καλημέρα κόσμε", "x² ≤ 3 → 🙂 ∑ 42", "Łódź, Ærø, ŝ"]
        {
            assert_eq!(foreign_letter(ok), None, "{ok}");
        }
        for (bad, letter) in [("hello мир", 'м'), ("答案是 42", '答'), ("abc שלום", 'ש'), ("ok مرحبا", 'م')]
        {
            assert_eq!(foreign_letter(bad), Some(letter), "{bad}");
        }
    }

    #[test]
    fn nulls_and_duplicates() {
        assert!(is_null(None) && is_null(Some(" \n")) && !is_null(Some("x")));
        let mut d = Dedupe::default();
        assert!(!d.is_duplicate("a") && d.is_duplicate("a") && !d.is_duplicate("b"));
    }
}
