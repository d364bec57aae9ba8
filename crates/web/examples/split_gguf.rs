//! Cuts a GGUF file into a split set whose files are each at most a given size, as a browser
//! model is served (web/test.sh uses it for the demo model):
//!
//!     cargo run --release -p selene-web --example split_gguf -- IN.gguf OUT.gguf 32MiB
//!
//! writes `OUT-00001-of-0000N.gguf`… The limit covers whole files: the first one's header
//! (metadata and tokenizer) counts too, which `gguf-split --split-max-size` leaves out.

use std::path::PathBuf;

use selene_gguf::{GgufModel, ModelWriter, SplitLimit};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, max] = &args[..] else {
        return Err("usage: split_gguf IN.gguf OUT.gguf MAX_FILE_BYTES (e.g. 32MiB)".into());
    };
    let max_file = match max.strip_suffix("MiB") {
        Some(mib) => mib.parse::<u64>()? << 20,
        None => max.parse::<u64>()?,
    };
    let model = GgufModel::open(input)?;
    let layout = model.layout();
    // The first shard's header is the original's plus the split keys.
    let header = layout.shards()[0].header.data_offset + 4096;
    let limit = max_file.checked_sub(header).filter(|l| *l > 0).ok_or("the limit is smaller than the header")?;
    let tensors = layout.tensors().iter().map(|t| t.info.clone()).collect();
    let mut writer = ModelWriter::create(
        &PathBuf::from(output),
        layout.metadata().clone(),
        tensors,
        Some(SplitLimit::MaxBytes(limit)),
    )?;
    while let Some(name) = writer.next_tensor().map(|t| t.name.clone()) {
        let t = model.tensor(&name).expect("the writer writes the model's own tensors");
        writer.write_tensor(&model.tensor_bytes(t)?)?;
    }
    for path in writer.finish()? {
        let size = std::fs::metadata(&path)?.len();
        if size > max_file {
            return Err(format!("{} is {size} bytes, over the limit", path.display()).into());
        }
        println!("{}", path.display());
    }
    Ok(())
}
