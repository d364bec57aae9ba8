//! A real llama.cpp GGUF (SmolLM2-135M-Instruct Q4_1) read and written back must come out
//! byte-identical, and a split set written from it must present the same model.

use selene_gguf::{GgufModel, GgufWriter, Header, ModelWriter, SplitLimit, Value};

fn read_all(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn smollm2_round_trips_byte_identical() {
    let path = selene_fixtures::smollm2();
    let original = read_all(&path);
    let header = Header::read(&original, "smollm2").unwrap();
    assert_eq!(header.version, 3);
    assert_eq!(header.metadata.require_str("general.architecture").unwrap(), "llama");
    assert!(header.tensors.len() > 100, "{} tensors", header.tensors.len());

    let model = GgufModel::open(&path).unwrap();
    let mut out = GgufWriter::new(Vec::new(), "copy", &header.metadata, header.tensors.clone()).unwrap();
    for t in model.layout().tensors() {
        out.write_tensor(&model.tensor_bytes(t).unwrap()).unwrap();
    }
    let copy = out.finish().unwrap();
    assert_eq!(copy.len(), original.len());
    assert!(copy == original, "first differing byte at {:?}", copy.iter().zip(&original).position(|(a, b)| a != b));
}

#[test]
fn split_set_presents_the_same_model() {
    let path = selene_fixtures::smollm2();
    let model = GgufModel::open(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("smol.gguf");
    let tensors: Vec<_> = model.layout().tensors().iter().map(|t| t.info.clone()).collect();
    let mut writer =
        ModelWriter::create(&out_path, model.metadata().clone(), tensors, Some(SplitLimit::MaxBytes(32_000_000)))
            .unwrap();
    let shard_paths = writer.paths().to_vec();
    assert!(shard_paths.len() >= 3, "{shard_paths:?}");
    let first_name = format!("smol-00001-of-{:05}.gguf", shard_paths.len());
    assert!(shard_paths[0].ends_with(&first_name), "{shard_paths:?}");
    for t in model.layout().tensors() {
        assert!(!shard_paths.iter().any(|p| p.exists()), "nothing appears before the set is complete");
        writer.write_tensor(&model.tensor_bytes(t).unwrap()).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), shard_paths);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), shard_paths.len(), "no temporary file is left");

    let reopened = GgufModel::open(&shard_paths[0]).unwrap();
    let meta = reopened.metadata();
    assert_eq!(meta.get("split.count"), Some(&Value::U16(shard_paths.len() as u16)));
    assert_eq!(meta.get("split.no"), Some(&Value::U16(0)));
    assert_eq!(meta.get("split.tensors.count"), Some(&Value::I32(model.layout().tensors().len() as i32)));
    for (key, value) in model.metadata().iter() {
        assert_eq!(meta.get(key), Some(value), "{key}");
    }
    for t in model.layout().tensors() {
        let r = reopened.tensor(&t.info.name).unwrap();
        assert_eq!((r.info.dims.clone(), r.info.ggml_type), (t.info.dims.clone(), t.info.ggml_type));
        assert!(reopened.tensor_bytes(r).unwrap() == model.tensor_bytes(t).unwrap(), "{}", t.info.name);
    }
    // Every shard but the first carries only the split keys, in llama-gguf-split's order; the
    // first ends with them.
    let second = Header::read(&read_all(&shard_paths[1]), "shard 2").unwrap();
    let keys: Vec<_> = second.metadata.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["split.no", "split.tensors.count", "split.count"]);
    let first = Header::read(&read_all(&shard_paths[0]), "shard 1").unwrap();
    let keys: Vec<_> = first.metadata.iter().map(|(k, _)| k).collect();
    assert_eq!(keys[keys.len() - 3..], ["split.no", "split.tensors.count", "split.count"]);

    let err = GgufModel::open(&shard_paths[1]).err().unwrap().to_string();
    assert!(err.contains("first shard"), "{err}");
    std::fs::remove_file(&shard_paths[2]).unwrap();
    let err = GgufModel::open(&shard_paths[0]).err().unwrap().to_string();
    assert!(err.contains("00003-of"), "{err}");
}
