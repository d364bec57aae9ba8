//! Writes a tiny test checkpoint: `cargo run --release -p selene-train --example make-tiny -- KIND DIR`
//! with KIND `loss` or `judge` (see tests/support/checkpoints.rs). For `loss` it also writes
//! `batch.json`, the batch the loss goldens are computed on by tests/reference/dpo_reference.py.

#[path = "../tests/support/checkpoints.rs"]
mod checkpoints;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, dir] = args.as_slice() else {
        eprintln!("usage: make-tiny {{loss|judge}} DIR");
        std::process::exit(2);
    };
    let dir = std::path::Path::new(dir);
    checkpoints::make(kind, dir);
    if kind == "loss" {
        let batch: Vec<serde_json::Value> = checkpoints::loss_batch()
            .into_iter()
            .map(|(p, c, r)| serde_json::json!({"prompt": p, "chosen": c, "rejected": r}))
            .collect();
        std::fs::write(dir.join("batch.json"), serde_json::to_string(&batch).unwrap()).unwrap();
    }
}
