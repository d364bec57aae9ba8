//! Reads a Python dict literal of strings (`{'criteria': '…', "score1_description": "…"}`).
//!
//! Some copies of BiGGen Bench store `score_rubric` as the `repr` of a Python dict rather than
//! as a JSON object; this reads exactly that shape (string keys and values, Python's quoting
//! and escapes) and nothing more.

/// The key-value pairs of a dict literal, in order.
pub(crate) fn string_dict(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut reader = Reader { text, at: 0 };
    reader.expect('{')?;
    let mut entries = Vec::new();
    loop {
        reader.skip_space();
        if reader.eat('}') {
            break;
        }
        let key = reader.string()?;
        reader.expect(':')?;
        let value = reader.string()?;
        entries.push((key, value));
        reader.skip_space();
        if !reader.eat(',') {
            reader.expect('}')?;
            break;
        }
    }
    reader.skip_space();
    if reader.at != text.len() {
        return Err(format!("unexpected text after the dict at byte {}", reader.at));
    }
    Ok(entries)
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn skip_space(&mut self) {
        self.at = self.text[self.at..].find(|c: char| !c.is_whitespace()).map_or(self.text.len(), |n| self.at + n);
    }

    fn eat(&mut self, expected: char) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.at += expected.len_utf8();
        }
        found
    }

    fn expect(&mut self, expected: char) -> Result<(), String> {
        self.skip_space();
        if self.eat(expected) { Ok(()) } else { Err(format!("expected `{expected}` at byte {}", self.at)) }
    }

    fn string(&mut self) -> Result<String, String> {
        self.skip_space();
        let start = self.at;
        let quote = match self.peek() {
            Some(quote @ ('\'' | '"')) => quote,
            _ => return Err(format!("expected a quoted string at byte {start}")),
        };
        self.at += 1;
        let mut value = String::new();
        let mut chars = self.text[self.at..].char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                _ if c == quote => {
                    self.at += offset + 1;
                    return Ok(value);
                }
                '\\' => {
                    let (_, escaped) = chars.next().ok_or("unterminated escape")?;
                    match escaped {
                        'n' => value.push('\n'),
                        't' => value.push('\t'),
                        'r' => value.push('\r'),
                        '0' => value.push('\0'),
                        '\\' | '\'' | '"' => value.push(escaped),
                        'x' | 'u' | 'U' => {
                            let digits = match escaped {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = chars.by_ref().take(digits).map(|(_, c)| c).collect();
                            let code = u32::from_str_radix(&hex, 16)
                                .ok()
                                .filter(|_| hex.len() == digits)
                                .and_then(char::from_u32)
                                .ok_or_else(|| {
                                    format!("bad escape `\\{escaped}{hex}` in the string at byte {start}")
                                })?;
                            value.push(code);
                        }
                        // Python keeps unknown escapes as they are.
                        other => {
                            value.push('\\');
                            value.push(other);
                        }
                    }
                }
                _ => value.push(c),
            }
        }
        Err(format!("unterminated string starting at byte {start}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_python_reprs() {
        let text =
            r#"{'criteria': "Is it the user's plan?", 'score1_description': 'Line one\nLine \'two\' \\ \x41\u00e9', }"#;
        let entries = string_dict(text).unwrap();
        assert_eq!(
            entries,
            [
                ("criteria".to_owned(), "Is it the user's plan?".to_owned()),
                ("score1_description".to_owned(), "Line one\nLine 'two' \\ Aé".to_owned()),
            ]
        );
        assert_eq!(string_dict(" { } ").unwrap(), []);
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in ["['a']", "{'a': 1}", "{'a': 'b'", "{'a' 'b'}", "{'a': 'b'} x", "{'a': '\\x4'}"] {
            assert!(string_dict(bad).is_err(), "{bad}");
        }
    }
}
