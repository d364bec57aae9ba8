//! The loader a browser uses, run natively over files on disk: the demo model cut into a split
//! set of small files loads, read slice by slice in any order, into the same model that the
//! whole file gives.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use selene_gguf::{GgufModel, ModelWriter, SplitLimit};
use selene_runtime::{
    ChosenDevice, Compute, DeviceSpec, Engine, Flow, GenerationConfig, LoadOptions, Message, RuntimeError,
    ShardOptions, ShardReader,
};

struct DiskShard(PathBuf);

impl ShardReader for DiskShard {
    fn name(&self) -> String {
        self.0.file_name().unwrap().to_string_lossy().into_owned()
    }

    fn len(&self) -> u64 {
        std::fs::metadata(&self.0).unwrap().len()
    }

    async fn read(&self, start: u64, end: u64) -> Result<Vec<u8>, RuntimeError> {
        let mut buf = vec![0; (end - start) as usize];
        File::open(&self.0)
            .and_then(|f| f.read_exact_at(&mut buf, start))
            .map_err(|e| RuntimeError::Invalid(e.to_string()))?;
        Ok(buf)
    }
}

/// SmolLM2 as a split set of files of at most 32 MiB.
fn split_smollm2(dir: &Path) -> Vec<PathBuf> {
    let model = GgufModel::open(selene_fixtures::smollm2()).unwrap();
    let layout = model.layout();
    let tensors = layout.tensors().iter().map(|t| t.info.clone()).collect();
    let limit = SplitLimit::MaxBytes((32 << 20) - layout.shards()[0].header.data_offset - 4096);
    let mut writer =
        ModelWriter::create(&dir.join("smol.gguf"), layout.metadata().clone(), tensors, Some(limit)).unwrap();
    while let Some(name) = writer.next_tensor().map(|t| t.name.clone()) {
        writer.write_tensor(&model.tensor_bytes(model.tensor(&name).unwrap()).unwrap()).unwrap();
    }
    writer.finish().unwrap()
}

fn greedy(engine: &Engine) -> Vec<u32> {
    let prompt = engine.chat_prompt(&[Message::new("user", "Name three primary colours.")]).unwrap();
    let config = GenerationConfig { max_tokens: 12, ..Default::default() };
    let generation = engine.generate(&prompt, &config, |_| Flow::Continue).unwrap();
    generation.tokens.iter().map(|t| t.choice.token).collect()
}

#[test]
fn a_split_set_read_slice_by_slice_is_the_model() {
    let dir = std::env::temp_dir().join(format!("selene-web-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths = split_smollm2(&dir);
    assert!(paths.len() >= 3, "{paths:?}");
    assert!(paths.iter().all(|p| std::fs::metadata(p).unwrap().len() <= 32 << 20));

    let native = Engine::load(
        &selene_fixtures::smollm2(),
        &LoadOptions { device: DeviceSpec::Cpu { replicas: 1 }, context: 256, ..Default::default() },
    )
    .unwrap();
    let device = || ChosenDevice { device: native.device().clone(), name: "cpu".into(), reason: None };
    let options = ShardOptions { context: 256, compute: native.model().compute(), max_buffer: None };
    let mut shards: Vec<DiskShard> = paths.iter().cloned().map(DiskShard).collect();
    shards.reverse();
    let mut seen = Vec::new();
    let load = |shards: &[DiskShard], options: &ShardOptions, seen: &mut Vec<(u64, u64)>| {
        pollster::block_on(Engine::load_shards(shards, device(), options, |p| {
            seen.push((p.loaded_bytes, p.total_bytes))
        }))
    };
    let engine = load(&shards, &options, &mut seen).unwrap();
    assert_eq!(engine.name(), Some("Smollm2 135M 8k Lc100K Mix1 Ep2"));
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 == w[1].1));
    assert_eq!(seen.last().map(|p| p.0), seen.last().map(|p| p.1));
    assert_eq!(greedy(&engine), greedy(&native));

    // A device that cannot bind the tied embedding-and-output matrix as f32 is refused up front.
    let small = ShardOptions { max_buffer: Some(64 << 20), compute: Compute::Tensors, ..options.clone() };
    let refused = load(&shards, &small, &mut Vec::new()).err().unwrap();
    assert!(matches!(refused, RuntimeError::BufferTooLarge { .. }), "{refused}");
    let message = refused.to_string();
    assert!(message.contains("token_embd.weight") && message.contains("64 MiB"), "{message}");

    // A set with a shard missing names what is wrong.
    let missing = load(&shards[1..], &options, &mut Vec::new()).err().unwrap();
    assert!(missing.to_string().contains("shards"), "{missing}");

    std::fs::remove_dir_all(&dir).unwrap();
}
