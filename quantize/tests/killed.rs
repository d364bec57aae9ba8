//! `selene-quantize` killed (SIGKILL) at 20 random moments while it writes a split set, then run
//! again.
//! A killed run leaves no file that looks like finished output: every file under an output name
//! is whole, and the set's first shard (the one readers open) exists only with every other. The
//! next run removes the killed run's temporary files and writes what an uninterrupted run writes.

#![cfg(unix)]

#[path = "support/tiny.rs"]
mod tiny;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A split set of four shards (the embedding and the output matrix are larger than a shard).
fn quantize(checkpoint: &Path, out: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_selene-quantize"));
    command.args([checkpoint, out]).args(["--type", "Q8_0", "--split-max-size", "5M", "-q"]).stdout(Stdio::null());
    command
}

/// Starts a conversion into `dir` and returns once its first temporary file is there (or it ended).
fn start_writing(checkpoint: &Path, dir: &Path) -> Child {
    let mut child = quantize(checkpoint, &dir.join("model.gguf")).spawn().unwrap();
    let writing = || std::fs::read_dir(dir).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with('.'));
    while child.try_wait().unwrap().is_none() && !writing() {
        std::thread::sleep(Duration::from_millis(1));
    }
    child
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap_or_default())
        })
        .collect()
}

/// A fraction in [0, 1) from a 64-bit linear congruential generator.
fn fraction(state: &mut u64) -> f64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

#[test]
fn a_killed_split_write_leaves_nothing_that_looks_finished() {
    let root = tempfile::tempdir().unwrap();
    let checkpoint = root.path().join("checkpoint");
    tiny::write(&checkpoint, |_, values| values);
    let (reference_dir, out_dir) = (root.path().join("reference"), root.path().join("out"));
    std::fs::create_dir_all(&reference_dir).unwrap();
    std::fs::create_dir_all(&out_dir).unwrap();

    let mut child = start_writing(&checkpoint, &reference_dir);
    let writing = Instant::now();
    assert!(child.wait().unwrap().success());
    let took = writing.elapsed();
    let reference = files(&reference_dir);
    let n = reference.len();
    let expected: Vec<String> = (1..=n).map(|no| format!("model-{no:05}-of-{n:05}.gguf")).collect();
    assert!(n >= 3 && reference.keys().eq(&expected), "{:?}", reference.keys());
    let first = &expected[0];

    // Each kill lands at a random moment of the writing, from the first temporary file on.
    let (mut state, mut with_leftovers) = (0x5e1e_e5ee_d000_0001u64, 0);
    for moment in 0..20 {
        for name in reference.keys() {
            let _ = std::fs::remove_file(out_dir.join(name));
        }
        let delay = took.mul_f64(fraction(&mut state));
        let mut child = start_writing(&checkpoint, &out_dir);
        std::thread::sleep(delay);
        child.kill().unwrap();
        child.wait().unwrap();

        let after_kill = files(&out_dir);
        let context = format!("killed after {delay:?} (moment {moment}): {:?}", after_kill.keys().collect::<Vec<_>>());
        with_leftovers += usize::from(after_kill.keys().any(|name| name.starts_with('.')));
        for (name, bytes) in &after_kill {
            if name.starts_with('.') {
                assert!(selene_gguf::parse_shard_path(Path::new(name)).is_none(), "{context}");
                assert!(!name.ends_with(".gguf"), "{context}");
            } else {
                assert!(reference.get(name) == Some(bytes), "{name} is not a whole shard; {context}");
            }
        }
        if after_kill.contains_key(first) {
            assert!(
                reference.keys().all(|name| after_kill.contains_key(name)),
                "the first shard of a partial set; {context}"
            );
        }

        assert!(quantize(&checkpoint, &out_dir.join("model.gguf")).status().unwrap().success(), "{context}");
        assert!(
            files(&out_dir) == reference,
            "the rerun left {:?}; {context}",
            files(&out_dir).keys().collect::<Vec<_>>()
        );
    }
    eprintln!(
        "writing took {took:?}; {with_leftovers} of 20 killed runs left temporary files, all removed by the rerun"
    );
    assert!(with_leftovers > 0, "no kill landed while temporary files existed");
}
