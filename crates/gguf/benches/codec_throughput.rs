//! Throughput of this crate's block codecs, for `tools/bench/codec_throughput.py`, which runs
//! ggml's reference functions and the `gguf` package's numpy codecs on the same bytes in the same
//! run and writes the comparison table. A benchmark, not a test: `cargo test` does not build it.
//!
//! `cargo bench -p selene-gguf --bench codec_throughput -- DIR THREADS REPEAT`
//!
//! DIR holds `values.f32` (little-endian f32) and, per type, `TYPE.blocks`: those values encoded
//! by ggml. Every type with a blocks file is decoded, and encoded too where this crate can, on a
//! rayon pool of THREADS threads (1 is single-threaded). Prints one JSON line per measurement:
//! the best of REPEAT runs, and the sha256 of the output so that the driver can check that every
//! implementation produced the same bytes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use selene_gguf::{GgmlType, codec};
use sha2::{Digest, Sha256};

fn best_seconds(repeat: usize, mut run: impl FnMut()) -> f64 {
    (0..repeat)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn report(op: &str, ty: GgmlType, threads: usize, n_values: usize, seconds: f64, output: &[u8]) {
    let line = serde_json::json!({
        "impl": "selene", "op": op, "type": ty.name(), "threads": threads, "values": n_values,
        "seconds": seconds, "sha256": format!("{:x}", Sha256::digest(output)),
    });
    println!("{line}");
}

fn blocks_files(dir: &Path) -> Vec<(GgmlType, PathBuf)> {
    let mut found: Vec<(GgmlType, PathBuf)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "blocks"))
        .map(|p| {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let ty = GgmlType::from_name(stem).unwrap_or_else(|| panic!("{}: not a ggml type name", p.display()));
            (ty, p)
        })
        .collect();
    found.sort_by_key(|(ty, _)| ty.id());
    found
}

fn main() {
    // `cargo bench` adds `--bench`; everything else is ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let [dir, threads, repeat] = args.as_slice() else {
        eprintln!("usage: codec_throughput DIR THREADS REPEAT");
        std::process::exit(2);
    };
    let dir = Path::new(dir);
    let threads: usize = threads.parse().expect("THREADS is a number");
    let repeat: usize = repeat.parse().expect("REPEAT is a number");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a rayon pool");

    let raw = std::fs::read(dir.join("values.f32")).expect("values.f32");
    let values: Vec<f32> = raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let n = values.len();
    for (ty, path) in blocks_files(dir) {
        let blocks = std::fs::read(&path).expect("blocks file");
        let mut decoded = vec![0f32; n];
        let seconds =
            pool.install(|| best_seconds(repeat, || codec::dequantize(ty, &blocks, &mut decoded).expect("decodes")));
        let bytes: Vec<u8> = decoded.iter().flat_map(|x| x.to_le_bytes()).collect();
        report("dequantize", ty, threads, n, seconds, &bytes);
        if codec::can_quantize(ty) {
            let mut encoded = vec![0u8; blocks.len()];
            let seconds =
                pool.install(|| best_seconds(repeat, || codec::quantize(ty, &values, &mut encoded).expect("encodes")));
            report("quantize", ty, threads, n, seconds, &encoded);
        }
    }
}
