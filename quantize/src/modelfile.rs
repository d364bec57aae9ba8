//! An Ollama Modelfile for the converted model: `FROM` the GGUF beside it, the Llama 3.1 chat
//! template in Ollama's Go-template syntax (the tools-aware one ollama.com ships for llama3.1),
//! the stop tokens, and the sampling defaults of generation_config.json.
//!
//! Ollama could guess a template from the GGUF's Jinja one, but only for templates it knows; a
//! fine-tune such as Selene uses Llama 3.1's format, so it is written out and never guessed.

use std::fmt::Write;
use std::path::Path;

const LLAMA31_TEMPLATE: &str = r#"{{- if or .System .Tools }}<|start_header_id|>system<|end_header_id|>
{{- if .System }}

{{ .System }}
{{- end }}
{{- if .Tools }}

Cutting Knowledge Date: December 2023

When you receive a tool call response, use the output to format an answer to the orginal user question.

You are a helpful assistant with tool calling capabilities.
{{- end }}<|eot_id|>
{{- end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>
{{- if and $.Tools $last }}

Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.

Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. Do not use variables.

{{ range $.Tools }}
{{- . }}
{{ end }}
Question: {{ .Content }}<|eot_id|>
{{- else }}

{{ .Content }}<|eot_id|>
{{- end }}{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- else if eq .Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>
{{- if .ToolCalls }}
{{ range .ToolCalls }}
{"name": "{{ .Function.Name }}", "parameters": {{ .Function.Arguments }}}{{ end }}
{{- else }}

{{ .Content }}
{{- end }}{{ if not $last }}<|eot_id|>{{ end }}
{{- else if eq .Role "tool" }}<|start_header_id|>ipython<|end_header_id|>

{{ .Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- end }}
{{- end }}"#;

const STOPS: &[&str] = &["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"];

/// generation_config.json keys and the Ollama parameters they set.
const SAMPLING: &[(&str, &str)] = &[
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("min_p", "min_p"),
    ("repetition_penalty", "repeat_penalty"),
];

/// The Modelfile for `gguf_name` (a file in the same folder), with the sampling defaults of the
/// checkpoint in `checkpoint_dir`.
pub fn render(gguf_name: &str, checkpoint_dir: &Path) -> String {
    let mut s = format!("FROM ./{gguf_name}\n\nTEMPLATE \"\"\"{LLAMA31_TEMPLATE}\"\"\"\n\n");
    for stop in STOPS {
        let _ = writeln!(s, "PARAMETER stop \"{stop}\"");
    }
    let generation: serde_json::Value = std::fs::read(checkpoint_dir.join("generation_config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for (key, param) in SAMPLING {
        if let Some(x) = generation.get(key).and_then(serde_json::Value::as_f64) {
            let _ = writeln!(s, "PARAMETER {param} {x}");
        }
    }
    s
}
