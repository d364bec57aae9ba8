//! Writes the runtime's parity checkpoint: `cargo run --release --example make-parity-checkpoint -- DIR`
//! (see tests/support/parity_checkpoint.rs). tools/reference/llama31_goldens.py converts it with
//! llama.cpp; crates/model/tests/llama31_parity.rs with selene-quantize.

#[path = "../tests/support/parity_checkpoint.rs"]
mod parity_checkpoint;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else {
        eprintln!("usage: make-parity-checkpoint DIR");
        std::process::exit(2);
    };
    parity_checkpoint::make(std::path::Path::new(dir));
    println!("{}", parity_checkpoint::NAME);
}
