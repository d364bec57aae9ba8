//! Chat templates against jinja2 set up as transformers' `apply_chat_template` sets it up.

mod common;

use common::*;
use selene_tokenizer::{ChatTemplate, Message, Segment, Tokenizer};

fn messages(v: &serde_json::Value) -> Vec<Message> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect()
}

fn has_special_text(tokenizer: &Tokenizer, messages: &[Message]) -> bool {
    messages.iter().any(|m| tokenizer.encode(&m.content, true).unwrap().iter().any(|&id| tokenizer.is_special(id)))
}

#[test]
fn templates_render_like_transformers() {
    let golden = golden("chat_templates.json");
    for template in golden["templates"].as_array().unwrap() {
        let name = template["name"].as_str().unwrap();
        let tokenizer = if name == "smollm2" { smollm2() } else { llama31() };
        let chat = ChatTemplate::new(
            template["template"].as_str().unwrap(),
            template["bos_token"].as_str().unwrap(),
            template["eos_token"].as_str().unwrap(),
        )
        .unwrap();
        for case in template["cases"].as_array().unwrap() {
            let messages = messages(&case["messages"]);
            let add_generation_prompt = case["add_generation_prompt"].as_bool().unwrap();
            let expected = case["rendered"].as_str().unwrap();
            assert_eq!(chat.render_text(&messages, add_generation_prompt).unwrap(), expected, "{name}: {messages:?}");
            let segments = chat.render(&messages, add_generation_prompt).unwrap();
            assert_eq!(segments.iter().map(Segment::text).collect::<String>(), expected, "{name}: segments");
            for segment in &segments {
                if let Segment::Data(text) = segment {
                    assert!(messages.iter().any(|m| m.content.contains(text.as_str())), "{name}: data {text:?}");
                }
            }
            let ids = tokenizer.encode_segments(&segments).unwrap();
            let reference = ids_of(&case["ids_special"]);
            if has_special_text(tokenizer, &messages) {
                // The reference matched the special tokens inside the messages; we must not.
                let template_specials: usize = segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Template(_)))
                    .map(|s| {
                        tokenizer.encode(s.text(), true).unwrap().iter().filter(|&&id| tokenizer.is_special(id)).count()
                    })
                    .sum();
                assert_eq!(
                    ids.iter().filter(|&&id| tokenizer.is_special(id)).count(),
                    template_specials,
                    "{name}: {messages:?}"
                );
                assert!(reference.iter().filter(|&&id| tokenizer.is_special(id)).count() > template_specials);
                assert_eq!(tokenizer.decode(&ids, false).unwrap(), expected);
            } else {
                assert_eq!(ids, reference, "{name}: ids of {expected:?}");
            }
        }
    }
}

fn ids_of(v: &serde_json::Value) -> Vec<u32> {
    ids(v)
}

#[test]
fn gguf_and_json_templates_load() {
    let smollm = smollm2().chat_template().unwrap().expect("SmolLM2 GGUF has a chat template");
    let text = smollm.render_text(&[Message::new("user", "Hi")], true).unwrap();
    assert!(text.ends_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"), "{text:?}");
    let llama = llama31().chat_template().unwrap().expect("Llama 3.1 config has a chat template");
    let text = llama.render_text(&[Message::new("user", " Hi ")], true).unwrap();
    assert_eq!(
        text,
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
}

#[test]
fn templates_that_rewrite_content_are_refused() {
    let upper = ChatTemplate::new("{% for m in messages %}{{ m.content | upper }}{% endfor %}", "", "").unwrap();
    let err = upper.render(&[Message::new("user", "hi")], false).unwrap_err();
    assert!(err.to_string().contains("rewrites message contents"), "{err}");
    let peek = ChatTemplate::new(
        "{% for m in messages %}{% if m.content == 'hi' %}HI{% endif %}{{ m.content }}{% endfor %}",
        "",
        "",
    )
    .unwrap();
    let err = peek.render(&[Message::new("user", "hi")], false).unwrap_err();
    assert!(err.to_string().contains("inspects or rewrites"), "{err}");
    let raising = ChatTemplate::new("{{ raise_exception('no system role') }}", "", "").unwrap();
    assert!(raising.render_text(&[], false).unwrap_err().to_string().contains("no system role"));
}

#[test]
fn strftime_now_is_left_undefined() {
    let template = "{% if strftime_now is defined %}{{ strftime_now('%d %b %Y, %A') }}{% else %}none{% endif %}";
    let chat = ChatTemplate::new(template, "", "").unwrap();
    assert_eq!(chat.render_text(&[], false).unwrap(), "none");
}
