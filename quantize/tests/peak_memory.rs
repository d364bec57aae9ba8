//! Peak memory while converting stays under three times the largest tensor of the checkpoint,
//! whatever the model size: the binary runs as a child process and its peak resident set size
//! is read back with getrusage (this test file holds a single test, so the child is the only
//! one measured).

#[path = "support/checkpoints.rs"]
mod checkpoints;

use std::process::Command;

#[test]
fn peak_rss_under_three_largest_tensors() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(checkpoints::dir_name("llama31"));
    checkpoints::make("llama31", &dir);
    // The embedding: 128256 x 512 bf16.
    let largest = 128256u64 * 512 * 2;
    let out = root.path().join("out.gguf");
    // F32 output is the worst case: the output buffer is twice the bf16 source tensor.
    let status = Command::new(env!("CARGO_BIN_EXE_selene-quantize"))
        .args([dir.to_str().unwrap(), out.to_str().unwrap(), "--type", "F32", "-q"])
        .status()
        .unwrap();
    assert!(status.success());
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut u), 0);
        u
    };
    let peak = usage.ru_maxrss as u64 * 1024;
    eprintln!("peak RSS {peak} bytes = {:.2} x the largest tensor ({largest} bytes)", peak as f64 / largest as f64);
    assert!(peak < 3 * largest, "peak RSS {peak} exceeds 3 x {largest}");
}
