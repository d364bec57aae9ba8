//! `--ollama` writes a Modelfile beside the GGUF whose syntax Ollama accepts: directives it
//! knows, a FROM naming the file, a TEMPLATE whose Go-template actions are balanced, and the
//! Llama 3.1 stop tokens and sampling defaults. (No Ollama binary is available here, so the
//! syntax is checked by a small parser of the Modelfile format.)

#[path = "support/checkpoints.rs"]
mod checkpoints;

use std::process::Command;

/// Parses a Modelfile into (instruction, argument) pairs: one instruction per line, `"""`
/// arguments spanning lines, `#` comments.
fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    const KNOWN: &[&str] = &["FROM", "TEMPLATE", "PARAMETER", "SYSTEM", "ADAPTER", "LICENSE", "MESSAGE", "REQUIRES"];
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let line_end = rest.find('\n').unwrap_or(rest.len());
        let line = rest[..line_end].trim();
        if line.is_empty() || line.starts_with('#') {
            rest = rest.get(line_end + 1..).unwrap_or("");
            continue;
        }
        let (word, arg) = line.split_once(' ').ok_or(format!("no argument: {line}"))?;
        if !KNOWN.contains(&word.to_uppercase().as_str()) {
            return Err(format!("unknown instruction {word}"));
        }
        let arg_start = rest.find(word).unwrap() + word.len();
        let after = rest[arg_start..].trim_start_matches(' ');
        if let Some(body) = after.strip_prefix("\"\"\"") {
            let end = body.find("\"\"\"").ok_or(format!("unterminated \"\"\" after {word}"))?;
            out.push((word.to_uppercase(), body[..end].to_owned()));
            rest = &body[end + 3..];
            let tail_end = rest.find('\n').unwrap_or(rest.len());
            if !rest[..tail_end].trim().is_empty() {
                return Err(format!("text after closing \"\"\" of {word}"));
            }
            rest = rest.get(tail_end + 1..).unwrap_or("");
        } else {
            out.push((word.to_uppercase(), arg.trim().to_owned()));
            rest = rest.get(line_end + 1..).unwrap_or("");
        }
    }
    Ok(out)
}

/// Checks that `{{ }}` delimiters pair up and that if/range/with/define/block each have an end.
fn check_go_template(t: &str) -> Result<(), String> {
    let mut depth = 0i32;
    let mut rest = t;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or("unclosed {{")?;
        let action = after[..close].trim_matches(|c: char| c == '-' || c.is_whitespace());
        if action.contains("{{") {
            return Err(format!("nested {{{{ in {action}"));
        }
        let word = action.split_whitespace().next().unwrap_or("");
        match word {
            "if" | "range" | "with" | "define" | "block" => depth += 1,
            "end" => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err("end without a block".into());
        }
        rest = &after[close + 2..];
    }
    if rest.contains("}}") {
        return Err("}} without {{".into());
    }
    if depth != 0 { Err(format!("{depth} blocks not ended")) } else { Ok(()) }
}

#[test]
fn parser_rejects_broken_modelfiles() {
    assert!(parse("FROM ./a.gguf\nTEMPLATE \"\"\"{{ .Prompt }}\n").is_err());
    assert!(parse("FORM ./a.gguf\n").is_err());
    assert!(check_go_template("{{ if .System }}x").is_err());
    assert!(check_go_template("{{ .Prompt }").is_err());
    assert!(check_go_template("{{ end }}").is_err());
    assert!(check_go_template("{{- if .A }}{{ range .B }}{{ . }}{{ end }}{{- end }}").is_ok());
}

#[test]
fn ollama_modelfile_beside_the_gguf() {
    let ckpt = tempfile::tempdir().unwrap();
    let dir = ckpt.path().join(checkpoints::dir_name("smollm2"));
    checkpoints::make("smollm2", &dir);
    // Llama 3.1 sampling defaults, as Meta's generation_config.json has them.
    std::fs::write(dir.join("generation_config.json"), r#"{"temperature": 0.6, "top_p": 0.9, "do_sample": true}"#)
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let gguf = out.path().join("selene-Q8_0.gguf");
    let status = Command::new(env!("CARGO_BIN_EXE_selene-quantize"))
        .args([dir.to_str().unwrap(), gguf.to_str().unwrap(), "--type", "Q8_0", "--ollama", "-q"])
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(out.path().join("Modelfile")).unwrap();
    let directives = parse(&text).unwrap();
    assert_eq!(directives[0], ("FROM".into(), "./selene-Q8_0.gguf".into()));
    assert!(out.path().join(&directives[0].1).is_file());
    let templates: Vec<&String> = directives.iter().filter(|(d, _)| d == "TEMPLATE").map(|(_, a)| a).collect();
    assert_eq!(templates.len(), 1);
    check_go_template(templates[0]).unwrap();
    assert!(templates[0].contains("<|start_header_id|>assistant<|end_header_id|>"));
    let params: Vec<&str> = directives.iter().filter(|(d, _)| d == "PARAMETER").map(|(_, a)| a.as_str()).collect();
    assert_eq!(
        params,
        [
            "stop \"<|start_header_id|>\"",
            "stop \"<|end_header_id|>\"",
            "stop \"<|eot_id|>\"",
            "temperature 0.6",
            "top_p 0.9"
        ]
    );
}
