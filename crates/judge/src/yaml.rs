//! Reads one literal block scalar (`key: |-`) out of a YAML document.
//!
//! Selene's templates are YAML files with a single `user_template: |-` key, and the model was
//! trained on the exact text YAML yields for it. A full YAML parser would be a large dependency
//! for one construct, so this reads exactly that construct by the YAML 1.2 rules for literal
//! scalars (indentation detected from the first non-empty line, the three chomping modes,
//! CRLF read as LF) and refuses anything else rather than guess.

pub(crate) struct YamlError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

#[derive(Clone, Copy)]
enum Chomping {
    /// `|-`: no line break at the end.
    Strip,
    /// `|`: one line break at the end.
    Clip,
    /// `|+`: every trailing line break kept.
    Keep,
}

/// The value of top-level `key`, which must be a literal block scalar.
pub(crate) fn block_scalar(document: &str, key: &str) -> Result<String, YamlError> {
    let lines: Vec<&str> = document.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line)).collect();
    let header = lines
        .iter()
        .position(|line| line.strip_prefix(key).is_some_and(|rest| rest.starts_with(':')))
        .ok_or_else(|| YamlError { line: 1, reason: format!("no top-level key `{key}`") })?;
    let chomping =
        header_chomping(&lines[header][key.len() + 1..]).map_err(|reason| YamlError { line: header + 1, reason })?;

    let body = &lines[header + 1..];
    let indent = body
        .iter()
        .find(|line| !line.trim_start_matches(' ').is_empty())
        .map(|line| line.len() - line.trim_start_matches(' ').len())
        .unwrap_or(0);
    if indent == 0 {
        return Err(YamlError { line: header + 1, reason: format!("`{key}` has no indented text") });
    }

    let mut text = String::new();
    for (index, line) in body.iter().enumerate() {
        let spaces = line.len() - line.trim_start_matches(' ').len();
        if spaces >= indent {
            text.push_str(&line[indent..]);
        } else if !line.trim_start_matches(' ').is_empty() {
            break;
        }
        // The last piece of `split('\n')` is the only one without a line break after it.
        if index + 1 < body.len() {
            text.push('\n');
        }
    }
    Ok(chomp(text, chomping))
}

/// The chomping mode from what follows `key:` on the header line.
fn header_chomping(after_colon: &str) -> Result<Chomping, String> {
    let indicator = match after_colon.find(" #") {
        Some(comment) => &after_colon[..comment],
        None => after_colon,
    }
    .trim();
    match indicator {
        "|-" => Ok(Chomping::Strip),
        "|" => Ok(Chomping::Clip),
        "|+" => Ok(Chomping::Keep),
        other => Err(format!("expected a literal block scalar (`|-`, `|` or `|+`) after the key, found `{other}`")),
    }
}

fn chomp(mut text: String, chomping: Chomping) -> String {
    if let Chomping::Keep = chomping {
        return text;
    }
    let content_end = text.trim_end_matches('\n').len();
    let keep_one = matches!(chomping, Chomping::Clip) && content_end > 0 && content_end < text.len();
    text.truncate(content_end);
    if keep_one {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(document: &str) -> String {
        block_scalar(document, "t").map_err(|e| format!("line {}: {}", e.line, e.reason)).unwrap()
    }

    #[test]
    fn strip_clip_keep() {
        assert_eq!(read("t: |-\n  a\n\n  b\n\n\n"), "a\n\nb");
        assert_eq!(read("t: |\n  a\n\n  b\n\n\n"), "a\n\nb\n");
        assert_eq!(read("t: |+\n  a\n\n  b\n\n\n"), "a\n\nb\n\n\n");
        assert_eq!(read("t: |-\n  a"), "a");
        assert_eq!(read("t: |\n  a"), "a");
    }

    #[test]
    fn deeper_indentation_and_whitespace_lines_are_content() {
        assert_eq!(read("t: |-\n  a\n    b\n     \n  c\n"), "a\n  b\n   \nc");
        assert_eq!(read("t: |-\n  a\n \n  c"), "a\n\nc");
    }

    #[test]
    fn block_ends_at_a_less_indented_line_and_crlf_is_lf() {
        assert_eq!(read("x: 1\nt: |- # note\r\n    a\r\n    b\r\nother: |\n  z\n"), "a\nb");
    }

    #[test]
    fn other_forms_are_refused() {
        for (document, line) in [("t: hello", 1), ("t: |2-\n  a", 1), ("u: |-\n  a", 1), ("t: |-\nno indent", 1)] {
            let Err(error) = block_scalar(document, "t") else { panic!("{document} was accepted") };
            assert_eq!(error.line, line, "{document}: {}", error.reason);
        }
    }
}
