//! The judging options the page sends with an item, as JSON; the item itself is the CLI's
//! [`JudgeItem`](selene_judge::JudgeItem) JSON, unchanged.

use selene_judge::BuiltinTemplate;
use selene_runtime::JudgeOptions;
use serde::Deserialize;

use crate::error::WebError;

/// `{"max_tokens": 512, "swap": false, "format": "pairwise-markdown", "prefill": "**Reasoning:**"}`;
/// every field optional, each meaning what the `selene judge` flag of the same name does.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeRequest {
    pub max_tokens: Option<usize>,
    #[serde(default)]
    pub swap: bool,
    /// A built-in template by name, as `selene judge --format`; none picks the trained one.
    pub format: Option<String>,
    /// Text the judge's reply starts with, as if the model had written it.
    pub prefill: Option<String>,
}

impl JudgeRequest {
    pub fn parse(json: &str) -> Result<JudgeRequest, WebError> {
        serde_json::from_str(json).map_err(|e| WebError::invalid(format!("judge options: {e}")))
    }

    pub fn options(&self) -> Result<JudgeOptions, WebError> {
        let mut options = JudgeOptions { swap: self.swap, prefill: self.prefill.clone(), ..Default::default() };
        if let Some(max_tokens) = self.max_tokens {
            options.max_tokens = max_tokens;
        }
        if let Some(name) = &self.format {
            let builtin = BuiltinTemplate::from_name(name).ok_or_else(|| {
                let names: Vec<_> = BuiltinTemplate::all().iter().map(|b| b.name()).collect();
                WebError::invalid(format!("unknown format {name:?}; built-in templates: {}", names.join(", ")))
            })?;
            options.template = Some(builtin.template());
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_as_the_cli_does_and_reject_what_they_do_not_know() {
        let defaults = JudgeRequest::parse("{}").unwrap().options().unwrap();
        let cli = JudgeOptions::default();
        assert_eq!(
            (defaults.max_tokens, defaults.alternatives, defaults.swap),
            (cli.max_tokens, cli.alternatives, false)
        );
        assert!(defaults.template.is_none());
        let set = r#"{"max_tokens": 8, "swap": true, "format": "pairwise-json", "prefill": "**Reasoning:**"}"#;
        let set = JudgeRequest::parse(set).unwrap().options().unwrap();
        assert_eq!((set.max_tokens, set.swap, set.template.is_some()), (8, true, true));
        assert_eq!(set.prefill.as_deref(), Some("**Reasoning:**"));
        assert!(JudgeRequest::parse(r#"{"max_token": 8}"#).unwrap_err().message.contains("max_token"));
        let unknown = JudgeRequest::parse(r#"{"format": "nope"}"#).unwrap().options().unwrap_err();
        assert!(unknown.message.contains("pairwise-markdown"), "{unknown}");
    }
}
