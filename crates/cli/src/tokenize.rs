//! `selene tokenize`: the token ids of a text, as JSON, without loading any weights.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use selene_gguf::GgufModel;
use selene_tokenizer::{Segment, Tokenizer};

#[derive(clap::Args)]
pub struct Args {
    /// Take the tokenizer from this GGUF file.
    #[arg(long, short = 'm', conflicts_with = "tokenizer")]
    model: Option<PathBuf>,
    /// Take the tokenizer from this tokenizer.json (its tokenizer_config.json beside it is read too).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Let special-token text (`<|eot_id|>`) become special tokens; by default it stays plain text.
    #[arg(long)]
    special: bool,
    /// Prepend the beginning-of-text token when the tokenizer asks for one.
    #[arg(long)]
    bos: bool,
    /// The text to tokenize.
    text: String,
}

pub fn run(args: &Args) -> Result<()> {
    let tokenizer = load(args)?;
    let segment = if args.special { Segment::Template(args.text.clone()) } else { Segment::Data(args.text.clone()) };
    let mut ids = tokenizer.encode_segments(&[segment])?;
    if let (true, true, Some(bos)) = (args.bos, tokenizer.add_bos(), tokenizer.bos_id()) {
        ids.insert(0, bos);
    }
    println!("{}", serde_json::to_string(&ids)?);
    Ok(())
}

fn load(args: &Args) -> Result<Tokenizer> {
    match (&args.model, &args.tokenizer) {
        (Some(model), _) => {
            let model = GgufModel::open(crate::hub::resolve(model)?)?;
            Ok(Tokenizer::from_gguf(model.metadata())?)
        }
        (None, Some(json)) => {
            let bytes = std::fs::read(json).with_context(|| json.display().to_string())?;
            let config = json.with_file_name("tokenizer_config.json");
            let config = config.exists().then(|| std::fs::read(&config)).transpose()?;
            Ok(Tokenizer::from_tokenizer_json(&bytes, config.as_deref())?)
        }
        (None, None) => bail!("give --model FILE.gguf or --tokenizer tokenizer.json"),
    }
}
