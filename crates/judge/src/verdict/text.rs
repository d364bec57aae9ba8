//! Byte-offset helpers shared by the marker and value readers, which both walk the model's
//! output by byte offsets so that spans can be handed back to the runtime.

/// The character ending at byte `at`.
pub(super) fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

/// The character starting at byte `at`.
pub(super) fn char_after(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// The offset of the first character at or after `from` for which `skipped` is false.
pub(super) fn skip(text: &str, from: usize, skipped: impl Fn(char) -> bool) -> usize {
    text[from..].find(|c: char| !skipped(c)).map_or(text.len(), |found| from + found)
}

/// The end of the line holding byte `at` (the offset of its `\n`, or the text's end).
pub(super) fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |newline| at + newline)
}

/// The line holding byte `at`, trimmed and shortened for an error message.
pub(super) fn line_excerpt(text: &str, at: usize) -> String {
    let start = text[..at].rfind('\n').map_or(0, |newline| newline + 1);
    let line = text[start..line_end(text, at)].trim();
    match line.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}
