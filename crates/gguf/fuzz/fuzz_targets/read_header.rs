//! Any bytes given to the GGUF reader give a header or an error: no panic, no allocation larger
//! than the input (libFuzzer's -malloc_limit_mb catches one). With cargo-fuzz (nightly):
//! `python3 ../tests/corpus/make_corpus.py seeds && cargo fuzz run read_header seeds`. On stable, from this folder:
//! `RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
//! -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
//! -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Coverflow-checks" cargo build
//! --release --target x86_64-unknown-linux-gnu`, then run the `read_header` binary on a copy of
//! `seeds` with `-malloc_limit_mb=64`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use selene_gguf::{Header, Prefix};

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = Header::read(data, "fuzz.gguf") {
        // A header that parsed describes tensors that lie inside the input.
        assert!(header.data_offset + header.data_len() <= data.len() as u64);
    }
    // The browser parses a header from the first bytes of a file it cannot hold whole.
    let cut = data.len() / 2;
    let _ = Header::read(&Prefix::new(&data[..cut], data.len() as u64), "fuzz.gguf");
});
