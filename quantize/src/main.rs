//! `selene-quantize`: a Hugging Face Llama checkpoint to a GGUF file (or split set) in one pass,
//! with the options a `llama-quantize` user expects.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use selene_quantize::convert::{Options, convert};
use selene_quantize::ftype::{FILE_TYPES, FileType};
use selene_quantize::{modelfile, random};

fn type_help() -> String {
    let mut s = String::from("Allowed quantization types:\n");
    for (t, name, about) in FILE_TYPES {
        s.push_str(&format!("  {:>2}  or  {name:<7}: {about}\n", t.id()));
    }
    s.push_str(
        "\nOutput is byte-identical to `convert_hf_to_gguf.py --outtype bf16` followed by\n\
         `llama-quantize` (no imatrix) for a bf16 checkpoint, without the intermediate file.",
    );
    s
}

#[derive(Parser)]
#[command(
    name = "selene-quantize",
    version,
    about = "Convert and quantize a Hugging Face Llama checkpoint (safetensors) to GGUF in one streaming pass",
    after_help = type_help()
)]
struct Cli {
    /// Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json, ...)
    input_dir: PathBuf,
    /// Output GGUF file (for a split set: the prefix, shards are PREFIX-00001-of-0000N.gguf)
    output: PathBuf,
    /// Quantization type, by name (Q4_K_M) or llama.cpp ftype number (15)
    #[arg(long = "type", short = 't', default_value = "Q8_0", value_parser = parse_type)]
    ftype: FileType,
    /// Split into files of at most this much tensor data (decimal K, M, G units, like gguf-split)
    #[arg(long, value_name = "SIZE", value_parser = parse_split)]
    split_max_size: Option<u64>,
    /// Also write an Ollama Modelfile beside the (single-file) output
    #[arg(long)]
    ollama: bool,
    /// Merge this PEFT LoRA adapter (adapter_config.json, adapter_model.safetensors) into the base
    #[arg(long, value_name = "DIR")]
    lora: Option<PathBuf>,
    /// Importance matrix file (llama-imatrix output); not supported yet
    #[arg(long, value_name = "FILE")]
    imatrix: Option<PathBuf>,
    /// No progress bar
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Write a model of this shape (llama-3.2-1b, llama-3.1-8b) with random weights instead of
    /// converting one: INPUT_DIR then holds only the tokenizer files (tokenizer.json,
    /// tokenizer_config.json). For measuring runtimes on real shapes.
    #[arg(long, value_name = "SHAPE", conflicts_with_all = ["lora", "ollama"])]
    random: Option<String>,
}

fn parse_type(s: &str) -> Result<FileType, String> {
    FileType::from_name(s)
        .or_else(|| s.parse::<u32>().ok().and_then(|id| FILE_TYPES.iter().map(|(t, _, _)| *t).find(|t| t.id() == id)))
        .ok_or_else(|| {
            let names: Vec<&str> = FILE_TYPES.iter().map(|(_, n, _)| *n).collect();
            format!("unknown type {s:?} (one of {})", names.join(", "))
        })
}

fn parse_split(s: &str) -> Result<u64, String> {
    selene_gguf::parse_size(s).ok_or_else(|| format!("{s:?} is not a size such as 512M or 2G"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.imatrix.is_some() {
        eprintln!("selene-quantize: --imatrix is not supported yet; quantize without it or use llama-quantize");
        return ExitCode::from(2);
    }
    let mut extra_files = Vec::new();
    if cli.ollama {
        if cli.split_max_size.is_some() {
            eprintln!(
                "selene-quantize: --ollama needs a single file (older Ollama cannot import split sets); drop --split-max-size"
            );
            return ExitCode::from(2);
        }
        let name = cli.output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let path = cli.output.with_file_name("Modelfile");
        extra_files.push((path, modelfile::render(&name, &cli.input_dir).into_bytes()));
    }
    if let Some(shape) = &cli.random {
        return finish(random::write(shape, &cli.input_dir, &cli.output, cli.ftype, cli.split_max_size));
    }
    let opts = Options {
        ftype: cli.ftype,
        split_max_size: cli.split_max_size,
        lora: cli.lora,
        extra_files,
        progress: !cli.quiet,
    };
    finish(convert(&cli.input_dir, &cli.output, &opts))
}

fn finish(written: selene_quantize::Result<Vec<PathBuf>>) -> ExitCode {
    match written {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("selene-quantize: {e}");
            ExitCode::FAILURE
        }
    }
}
