//! Broken and hostile headers give errors that name the file and field: never a panic, never an
//! allocation sized by the header.

use selene_gguf::{Array, ErrorKind, GgmlType, GgufWriter, Header, Metadata, Prefix, Value, tensor_info};

/// A small valid GGUF: a few metadata types and two tensors.
fn sample() -> Vec<u8> {
    let mut m = Metadata::new("sample");
    m.set("general.architecture", Value::String("llama".into()));
    m.set("llama.block_count", Value::U32(2));
    m.set("tokenizer.ggml.tokens", Value::Array(Array::String(vec!["a".into(), "b".into(), "<s>".into()])));
    m.set("tokenizer.ggml.scores", Value::Array(Array::F32(vec![0.0, -1.0, -2.5])));
    let tensors = vec![tensor_info("a.weight", &[2, 32], GgmlType::Q8_0), tensor_info("b", &[3], GgmlType::F32)];
    let mut w = GgufWriter::new(Vec::new(), "sample", &m, tensors).unwrap();
    w.write_tensor(&[7u8; 68]).unwrap();
    w.write_tensor(&[1u8; 12]).unwrap();
    w.finish().unwrap()
}

fn read(bytes: &[u8]) -> Result<Header, selene_gguf::Error> {
    Header::read(bytes, "bad.gguf")
}

/// Little-endian u64 at `at`, replaced by `value`.
fn patch_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes.windows(needle.len()).position(|w| w == needle).unwrap()
}

#[test]
fn sample_reads_back() {
    let h = read(&sample()).unwrap();
    assert_eq!(h.tensors.len(), 2);
    assert_eq!(h.tensors[1].offset, 96, "68 bytes padded to 96");
    assert_eq!(h.data_offset % 32, 0);
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = sample();
    let header = read(&bytes).unwrap();
    // Only the padding after the last tensor may be missing, as llama.cpp's loader allows.
    let data_end = (header.data_offset + header.data_len()) as usize;
    assert!(data_end < bytes.len());
    for len in 0..data_end {
        let err = read(&bytes[..len]).expect_err(&format!("a file cut at {len} bytes must not parse"));
        assert!(err.file == "bad.gguf");
        let counted = err.to_string().contains("cannot fit");
        assert!(matches!(err.kind, ErrorKind::Truncated { .. }) || counted, "cut at {len}: {err}");
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let original = sample();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for _ in 0..20_000 {
        let mut bytes = original.clone();
        for _ in 0..1 + next() % 4 {
            let at = next() % bytes.len();
            bytes[at] = next() as u8;
        }
        let _ = read(&bytes);
    }
}

#[test]
fn huge_lengths_fail_fast_and_name_the_field() {
    let mut bytes = sample();
    let at = find(&bytes, b"general.architecture") - 8;
    patch_u64(&mut bytes, at, u64::MAX / 2);
    let err = read(&bytes).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Truncated { .. }), "{err}");
    assert_eq!(err.field, "metadata[0].key");

    let mut bytes = sample();
    let at = find(&bytes, b"tokenizer.ggml.tokens") + 21 + 4 + 4;
    patch_u64(&mut bytes, at, 1 << 60);
    let err = read(&bytes).unwrap_err();
    assert_eq!(err.field, "tokenizer.ggml.tokens");
    assert!(err.to_string().contains("cannot fit"), "{err}");

    let mut bytes = sample();
    patch_u64(&mut bytes, 8, u64::MAX);
    let err = read(&bytes).unwrap_err();
    assert_eq!(err.field, "header.tensor_count");
}

#[test]
fn format_errors_are_named() {
    let cases: Vec<(Box<dyn Fn(&mut Vec<u8>)>, &str)> = vec![
        (Box::new(|b| b[0] = b'X'), "not a GGUF file"),
        (Box::new(|b| b[4..8].copy_from_slice(&1u32.to_le_bytes())), "version 1"),
        (Box::new(|b| b[4..8].copy_from_slice(&3u32.to_be_bytes())), "big-endian"),
        (
            Box::new(|b| {
                let at = find(b, b"llama.block_count") + 17;
                b[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
            }),
            "unknown metadata value type 99",
        ),
        (
            Box::new(|b| {
                let at = find(b, b"a.weight") + 8;
                b[at..at + 4].copy_from_slice(&5u32.to_le_bytes());
            }),
            "5 dimensions",
        ),
        (
            Box::new(|b| {
                let at = find(b, b"a.weight") + 8 + 4 + 16;
                b[at..at + 4].copy_from_slice(&4u32.to_le_bytes());
            }),
            "unknown ggml tensor type 4",
        ),
        (
            Box::new(|b| {
                let at = find(b, b"a.weight") + 8 + 4;
                b[at..at + 8].copy_from_slice(&33u64.to_le_bytes());
            }),
            "not a multiple of its block size",
        ),
        (
            Box::new(|b| {
                let at = find(&b[..], &[b'b', 1, 0, 0, 0]) + 1 + 4 + 8 + 4;
                b[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
            }),
            "needed",
        ),
        (
            Box::new(|b| {
                let at = find(&b[..], &[b'b', 1, 0, 0, 0]) + 1 + 4 + 8 + 4;
                b[at..at + 8].copy_from_slice(&100u64.to_le_bytes());
            }),
            "alignment",
        ),
    ];
    for (i, (corrupt, expected)) in cases.iter().enumerate() {
        let mut bytes = sample();
        corrupt(&mut bytes);
        let err = read(&bytes).expect_err(&format!("case {i} must fail"));
        assert!(err.to_string().starts_with("bad.gguf: "), "case {i}: {err}");
        assert!(err.to_string().contains(expected), "case {i}: {err}");
    }
}

#[test]
fn duplicates_are_refused() {
    let mut m = Metadata::new("dup");
    m.set("key.one", Value::U8(1));
    m.set("key.two", Value::U8(2));
    let tensors = vec![tensor_info("t1", &[4], GgmlType::F32), tensor_info("t2", &[4], GgmlType::F32)];
    let mut w = GgufWriter::new(Vec::new(), "dup", &m, tensors).unwrap();
    w.write_tensor(&[0; 16]).unwrap();
    w.write_tensor(&[0; 16]).unwrap();
    let bytes = w.finish().unwrap();

    let mut dup_key = bytes.clone();
    let at = find(&dup_key, b"key.two");
    dup_key[at..at + 7].copy_from_slice(b"key.one");
    let err = read(&dup_key).unwrap_err();
    assert_eq!((err.field.as_str(), err.to_string().contains("duplicate key")), ("key.one", true), "{err}");

    let mut dup_tensor = bytes;
    let at = find(&dup_tensor, b"t2");
    dup_tensor[at..at + 2].copy_from_slice(b"t1");
    let err = read(&dup_tensor).unwrap_err();
    assert!(err.to_string().contains("t1: duplicate tensor name"), "{err}");
}

#[test]
fn prefix_parsing_asks_for_more_bytes() {
    let bytes = sample();
    let mut have = 8;
    let header = loop {
        match Header::read(&Prefix::new(&bytes[..have], bytes.len() as u64), "prefix") {
            Ok(h) => break h,
            Err(e) => have = (e.needs_more_bytes().expect("only short prefixes fail") as usize).max(have + 1),
        }
    };
    assert_eq!(header, read(&bytes).unwrap());
    assert!(have < bytes.len(), "the header parsed without the tensor data");
}

#[test]
fn writer_refuses_what_llama_cpp_refuses() {
    let m = Metadata::new("out");
    let long = "x".repeat(64);
    for (tensors, why) in [
        (vec![tensor_info(long.as_str(), &[32], GgmlType::F32)], "1 to 63 bytes"),
        (vec![tensor_info("a", &[32], GgmlType::F32), tensor_info("a", &[32], GgmlType::F32)], "duplicate"),
        (vec![tensor_info("a", &[2, 3, 4, 5, 6], GgmlType::F32)], "dimensions"),
        (vec![tensor_info("a", &[2, 33], GgmlType::Q4_0)], "block size"),
    ] {
        let err = GgufWriter::new(Vec::new(), "out", &m, tensors).err().expect(why).to_string();
        assert!(err.contains(why), "{err}");
    }
    let mut w = GgufWriter::new(Vec::new(), "out", &m, vec![tensor_info("a", &[32], GgmlType::F32)]).unwrap();
    assert!(w.write_tensor(&[0; 4]).unwrap_err().to_string().contains("128"));
    assert!(w.finish().is_err(), "a declared tensor was never written");
    let mut bad_alignment = Metadata::new("out");
    bad_alignment.set("general.alignment", Value::U64(32));
    assert!(GgufWriter::new(Vec::new(), "out", &bad_alignment, vec![]).is_err());
}

/// The corpus of broken files that `tests/corpus/make_corpus.py` assembles with Python's `struct`,
/// independently of our writer (also the seeds of the fuzz target in `fuzz/`), written into a
/// temporary folder: every file is refused with an error that names the file and the field at
/// fault.
#[test]
fn broken_file_corpus_is_refused() {
    let expected = [
        ("array--absurd-length", "tokenizer.ggml.scores: count"),
        ("data--truncated", "b: the file ends"),
        ("header--truncated", "header.tensor_count"),
        ("key--duplicate", "general.architecture: duplicate key"),
        ("key--length-past-end", "metadata[0].key"),
        ("kv_count--absurd", "header.metadata_kv_count"),
        ("magic--not-gguf", "header.magic"),
        ("tensor--absurd-dimensions", "b: shape"),
        ("tensor--duplicate-name", "b: duplicate tensor name"),
        ("tensor--misaligned-offset", "b: data offset 3"),
        ("tensor--offset-past-end", "b: the file ends"),
        ("tensor--rows-not-whole-blocks", "a.weight: Q8_0 row length 33"),
        ("tensor--too-many-dimensions", "b: 9 dimensions"),
        ("tensor--unknown-type", "b: unknown ggml tensor type"),
        ("tensor_count--absurd", "header.tensor_count"),
        ("value--string-length-past-end", "general.name: the file ends"),
        ("value--unknown-type", "general.name: unknown metadata value type"),
        ("version--big-endian", "header.version: the file is big-endian"),
        ("version--unknown", "header.version: GGUF version 99"),
    ];
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/make_corpus.py");
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("python3").arg(&script).arg(out.path()).status();
    assert!(status.is_ok_and(|s| s.success()), "python3 {} failed", script.display());
    let dir = out.path();
    let on_disk = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "gguf"));
    assert_eq!(on_disk.count(), expected.len(), "every corpus file has its expectation here");
    for (name, field) in expected {
        let bytes = std::fs::read(dir.join(format!("{name}.gguf"))).unwrap();
        let error = read(&bytes).expect_err(name).to_string();
        assert!(error.starts_with("bad.gguf: ") && error.contains(field), "{name}: {error}");
    }
}
