//! `general.name`, `general.basename`, `general.finetune`, `general.version` and
//! `general.size_label`, guessed from the checkpoint folder's name the way gguf-py's `Metadata`
//! heuristics guess them (`Meta-Llama-3.1-8B-Instruct` → basename `Meta-Llama-3.1`, size `8B`,
//! finetune `Instruct`), so that our files and llama.cpp's carry the same names.

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelName {
    pub name: String,
    pub organization: Option<String>,
    pub basename: Option<String>,
    pub finetune: Option<String>,
    pub version: Option<String>,
    pub size_label: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Basename,
    SizeLabel,
    Finetune,
    Version,
    Type,
}

/// Names from config.json's `_name_or_path` when it is a Hub id (`org/name`, at most one
/// slash), then from the folder name for whatever that left unset, as gguf-py does.
pub fn guess(name_or_path: Option<&str>, folder: &str, total_params: u64) -> ModelName {
    let from_folder = from_id(folder, total_params);
    let Some(id) = name_or_path.filter(|id| id.matches('/').count() <= 1) else {
        return with_size(from_folder, total_params);
    };
    let hub = from_id(id, total_params);
    with_size(
        ModelName {
            name: hub.name,
            organization: hub.organization.or(from_folder.organization),
            basename: hub.basename.or(from_folder.basename),
            finetune: hub.finetune.or(from_folder.finetune),
            version: hub.version.or(from_folder.version),
            size_label: hub.size_label.or(from_folder.size_label),
        },
        total_params,
    )
}

/// Without a size in the name, the size label is the parameter count.
fn with_size(mut n: ModelName, total_params: u64) -> ModelName {
    if n.size_label.is_none() && total_params > 0 {
        n.size_label = Some(count_label(total_params));
    }
    n
}

/// Names from one id such as `SmolLM2-135M-Instruct` or `meta-llama/Llama-3.1-8B`;
/// `total_params` checks that a size in the name is the model's (not a context length).
fn from_id(id: &str, total_params: u64) -> ModelName {
    let (organization, folder) = match id.split_once('/') {
        Some((org, name)) => ((!org.starts_with('.') && !org.is_empty()).then(|| title(org)), name),
        None => (None, id),
    };
    if folder.contains(' ') {
        return ModelName { name: folder.to_owned(), ..ModelName::default() };
    }
    let mut parts: Vec<String> = folder.split('-').filter(|p| !p.is_empty()).map(str::to_owned).collect();
    let mut tags: Vec<Vec<Part>> = vec![Vec::new(); parts.len()];
    for (i, part) in parts.iter_mut().enumerate() {
        let tag = &mut tags[i];
        if is_version(part) {
            tag.push(Part::Version);
        } else if is_quant_type(part) {
            tag.push(Part::Type);
            *part = part.to_uppercase();
        } else if i > 0 && is_size(part) {
            let mut p = part.replace('_', ".");
            let chars: Vec<char> = p.chars().collect();
            if chars.last().is_some_and(char::is_ascii_digit) {
                // bloom-7b1 style: 7b1 → 7.1b
                let n = chars.len();
                p = format!("{}.{}{}", chars[..n - 2].iter().collect::<String>(), chars[n - 1], chars[n - 2]);
            }
            let chars: Vec<char> = p.chars().collect();
            let n = chars.len();
            if n > 1 && chars[n - 2].is_ascii_digit() && "kmbt".contains(chars[n - 1]) {
                p = format!("{}{}", &p[..p.len() - 1], chars[n - 1].to_ascii_uppercase());
            }
            if total_params != 0 {
                if let Some(label) = size_value(&p) {
                    let total = total_params as f64;
                    if (label - total).abs() > (7 * total_params / 8) as f64 {
                        // Probably a context length such as 8k.
                        tag.push(Part::Finetune);
                        p = format!("{}{}", &p[..p.len() - 1], p[p.len() - 1..].to_lowercase());
                    }
                }
            }
            if tag.is_empty() {
                tag.push(Part::SizeLabel);
            }
            *part = p;
        } else if i > 0 && ["chat", "instruct", "vision", "lora"].contains(&part.to_lowercase().as_str()) {
            tag.push(Part::Finetune);
        }
    }
    // Word sizes (mini, large...) give way to a numeric size.
    let numeric =
        parts.iter().zip(&tags).any(|(p, t)| t.contains(&Part::SizeLabel) && p.chars().any(|c| c.is_ascii_digit()));
    if numeric {
        for (p, t) in parts.iter().zip(tags.iter_mut()) {
            if t.contains(&Part::SizeLabel) && p.chars().all(char::is_alphabetic) {
                t.retain(|x| *x != Part::SizeLabel);
            }
        }
    }
    let mut at_start = true;
    for (p, t) in parts.iter().zip(tags.iter_mut()) {
        if at_start
            && ((t.is_empty() && p.chars().next().is_some_and(char::is_alphabetic)) || t.contains(&Part::Version))
        {
            t.push(Part::Basename);
        } else {
            at_start = false;
            if t.is_empty() {
                t.push(Part::Finetune);
            }
        }
    }
    for t in tags.iter_mut().rev() {
        if t.contains(&Part::Basename) && t.len() > 1 {
            t.retain(|x| *x != Part::Basename);
        } else {
            break;
        }
    }
    let join = |want: Part, unless: Option<Part>| -> Option<String> {
        let mut seen: Vec<&str> = Vec::new();
        for (p, t) in parts.iter().zip(&tags) {
            if t.contains(&want)
                && !unless.is_some_and(|u| t.contains(&u))
                && !(want == Part::SizeLabel && seen.contains(&p.as_str()))
            {
                seen.push(p);
            }
        }
        (!seen.is_empty()).then(|| seen.join("-"))
    };
    let mut basename = join(Part::Basename, None);
    let size_label = join(Part::SizeLabel, None);
    let finetune = join(Part::Finetune, None);
    let version = join(Part::Version, Some(Part::Basename));
    if size_label.is_none() && finetune.is_none() && version.is_none() {
        basename = None;
    }
    ModelName { name: title(folder), organization, basename, finetune, version, size_label }
}

fn is_version(p: &str) -> bool {
    let lower = p.to_lowercase();
    let rest = lower.strip_prefix("iter").or_else(|| lower.strip_prefix('v')).unwrap_or(&lower);
    !rest.is_empty() && rest.split('.').all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

/// `q4_k_m`, `iq2`, `fp16`, `bf16`, `f32`...
fn is_quant_type(p: &str) -> bool {
    let l = p.to_lowercase();
    let q = l.strip_prefix('i').unwrap_or(&l);
    if let Some(rest) = q.strip_prefix('q') {
        let mut chars = rest.chars();
        if chars.next().is_some_and(|c| c.is_ascii_digit()) {
            let tail: String = chars.collect();
            return tail.is_empty()
                || tail
                    .split('_')
                    .skip(1)
                    .all(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'))
                    && tail.starts_with('_');
        }
    }
    matches!(l.as_str(), "f16" | "f32" | "fp16" | "fp32" | "bf16" | "bfp16" | "bf32" | "bfp32")
}

/// `8B`, `135M`, `1.5B`, `8x7B`, `A3B`, `7b1`, or the words small, mini, medium, large, xl.
fn is_size(p: &str) -> bool {
    let l = p.to_lowercase();
    if ["small", "mini", "medium", "large", "xl", "xxl"].contains(&l.as_str()) {
        return true;
    }
    let mut s = l.as_str();
    if let Some(rest) = s.strip_prefix('a') {
        s = rest;
    } else if let Some(x) = s.find('x') {
        if x > 0 && s[..x].bytes().all(|b| b.is_ascii_digit()) {
            s = &s[x + 1..];
        }
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let mut rest = &s[digits..];
    if let Some(r) = rest.strip_prefix(['.', '_']) {
        let d = r.bytes().take_while(u8::is_ascii_digit).count();
        if d == 0 {
            return false;
        }
        rest = &r[d..];
    }
    let mut chars = rest.chars();
    matches!(chars.next(), Some('k' | 'm' | 'b' | 't'))
        && match chars.next() {
            None => true,
            Some(c) => c.is_ascii_digit() && chars.next().is_none(),
        }
}

/// The number of parameters a label like `135M` stands for.
fn size_value(label: &str) -> Option<f64> {
    let (num, unit) = label.split_at(label.len().checked_sub(1)?);
    let scale = match unit {
        "K" | "k" => 1e3,
        "M" | "m" => 1e6,
        "B" | "b" => 1e9,
        "T" | "t" => 1e12,
        " " => 1.0,
        _ => return None,
    };
    num.parse::<f64>().ok().map(|n| n * scale)
}

/// gguf-py's `model_weight_count_rounded_notation`: at least two significant digits.
pub fn count_label(n: u64) -> String {
    let x = n as f64;
    let (scaled, unit) = if x > 1e12 {
        (x * 1e-12, "T")
    } else if x > 1e9 {
        (x * 1e-9, "B")
    } else if x > 1e6 {
        (x * 1e-6, "M")
    } else {
        (x * 1e-3, "K")
    };
    let integer_digits = format!("{}", scaled.round_ties_even() as u64).trim_start_matches('0').len();
    let decimals = 2usize.saturating_sub(integer_digits);
    format!("{scaled:.decimals$}{unit}")
}

/// Title case for lower-case words that are not versions or numbers; dashes become spaces.
fn title(id: &str) -> String {
    id.trim()
        .replace('-', " ")
        .split_whitespace()
        .map(|w| {
            let lower_only = w.chars().any(char::is_lowercase) && !w.chars().any(char::is_uppercase);
            let versionish = w.starts_with(|c: char| c.is_ascii_digit()) || is_version(w) && w.starts_with('v');
            if lower_only && !versionish { python_title(w) } else { w.to_owned() }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Python's `str.title()`: upper-case after every non-letter, lower-case otherwise.
fn python_title(w: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in w.chars() {
        if prev_letter {
            out.extend(c.to_lowercase())
        } else {
            out.extend(c.to_uppercase())
        }
        prev_letter = c.is_alphabetic();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_gguf_py() {
        let n = guess(None, "Llama-3.1-Selene-Test-Instruct", 143_000_000);
        assert_eq!(n.name, "Llama 3.1 Selene Test Instruct");
        assert_eq!(n.basename.as_deref(), Some("Llama-3.1-Selene-Test"));
        assert_eq!(n.finetune.as_deref(), Some("Instruct"));
        assert_eq!((n.version, n.size_label.as_deref()), (None, Some("143M")));
        let n = guess(None, "SmolLM2-135M-Instruct", 134_515_008);
        assert_eq!(
            (n.name.as_str(), n.basename.as_deref(), n.size_label.as_deref()),
            ("SmolLM2 135M Instruct", Some("SmolLM2"), Some("135M"))
        );
        let n = guess(None, "Meta-Llama-3.1-8B-Instruct", 8_030_261_248);
        assert_eq!(
            (n.basename.as_deref(), n.size_label.as_deref(), n.finetune.as_deref()),
            (Some("Meta-Llama-3.1"), Some("8B"), Some("Instruct"))
        );
        // The name the SmolLM2 fixture was converted with.
        let n = guess(None, "smollm2-135M-8k-lc100k-mix1-ep2", 134_515_008);
        assert_eq!(n.finetune.as_deref(), Some("8k-lc100k-mix1-ep2"));
        assert_eq!(n.basename.as_deref(), Some("smollm2"));
        assert_eq!(n.name, "Smollm2 135M 8k Lc100K Mix1 Ep2");
        assert_eq!(guess(None, "model", 5_000).basename, None);
        // A Hub id in config.json's _name_or_path comes first; a local path is ignored.
        let n = guess(Some("meta-llama/Llama-3.1-8B-Instruct"), "checkpoint-final", 8_030_261_248);
        assert_eq!((n.name.as_str(), n.organization.as_deref()), ("Llama 3.1 8B Instruct", Some("Meta Llama")));
        assert_eq!(guess(Some("/home/me/run/final"), "Selene", 1).name, "Selene");
    }

    #[test]
    fn counts() {
        assert_eq!(count_label(8_030_261_248), "8.0B");
        assert_eq!(count_label(134_515_008), "135M");
        assert_eq!(count_label(1_235_814_400), "1.2B");
    }
}
