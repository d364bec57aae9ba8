//! Writes a deterministic test checkpoint: `cargo run --release --example make-checkpoint -- KIND DIR`
//! with KIND `llama31`, `smollm2` or `llama31-wide` (see tests/support/checkpoints.rs). The
//! reference script tools/reference/quantize_goldens.py converts the same checkpoints with
//! llama.cpp; tools/bench/quantize_vs_llama_cpp.py times both on them.

#[path = "../tests/support/checkpoints.rs"]
mod checkpoints;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, dir] = args.as_slice() else {
        eprintln!("usage: make-checkpoint {{{}|llama31-wide}} DIR", checkpoints::KINDS.join("|"));
        std::process::exit(2);
    };
    checkpoints::make(kind, std::path::Path::new(dir));
    println!("{}", checkpoints::dir_name(kind));
}
