//! `--model hf:owner/repo[:file]` against a Hugging Face-compatible server on loopback: the
//! file listing, ranged downloads with the hub's headers, every shard of a split set, the
//! standard cache layout under `HF_HOME`, and offline mode served from that cache.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use selene_gguf::{GgufModel, ModelWriter, SplitLimit};

const REPO: &str = "selene-test/smollm2-split";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Serves `files` as the main revision of [`REPO`], recording every request line.
struct Hub {
    endpoint: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Hub {
    fn start(files: HashMap<String, PathBuf>) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let files = Arc::new(files);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (files, log) = (files.clone(), log.clone());
                std::thread::spawn(move || serve(stream, &files, &log));
            }
        });
        Hub { endpoint, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, files: &HashMap<String, PathBuf>, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
        log.lock().unwrap().push(format!("{path} {}", headers.get("range").map_or("", String::as_str)));
        let listing = format!("/api/models/{REPO}/revision/main");
        let (status, extra, body) = if path == listing {
            let mut names: Vec<&String> = files.keys().collect();
            names.sort();
            let siblings: Vec<_> = names.iter().map(|n| serde_json::json!({ "rfilename": n })).collect();
            let body = serde_json::json!({ "sha": COMMIT, "siblings": siblings }).to_string().into_bytes();
            ("200 OK", vec![("content-type".to_owned(), "application/json".to_owned())], body)
        } else if let Some(file) = path.strip_prefix(&format!("/{REPO}/resolve/main/")).and_then(|f| files.get(f)) {
            let data = std::fs::read(file).unwrap();
            let (start, end) = headers
                .get("range")
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.split_once('-'))
                .map(|(a, b)| {
                    (a.parse::<usize>().unwrap(), b.parse::<usize>().map_or(data.len() - 1, |b| b.min(data.len() - 1)))
                })
                .unwrap_or((0, data.len() - 1));
            let extra = vec![
                ("etag".to_owned(), format!("\"{:x}-{}\"", data.len(), file.file_name().unwrap().to_string_lossy())),
                ("x-repo-commit".to_owned(), COMMIT.to_owned()),
                ("content-range".to_owned(), format!("bytes {start}-{end}/{}", data.len())),
            ];
            ("206 Partial Content", extra, data[start..=end].to_vec())
        } else {
            ("404 Not Found", vec![], b"not found".to_vec())
        };
        let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
        for (k, v) in extra {
            head += &format!("{k}: {v}\r\n");
        }
        head += "\r\n";
        if out.write_all(head.as_bytes()).and_then(|_| out.write_all(&body)).is_err() {
            return;
        }
        if headers.get("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
            return;
        }
    }
}

/// The demo model cut into a split set of two or more shards.
fn split_model(dir: &Path) -> Vec<PathBuf> {
    let model = GgufModel::open(selene_fixtures::smollm2()).unwrap();
    let layout = model.layout();
    let tensors = layout.tensors().iter().map(|t| t.info.clone()).collect();
    let mut writer = ModelWriter::create(
        &dir.join("smollm2.gguf"),
        layout.metadata().clone(),
        tensors,
        Some(SplitLimit::MaxBytes(40 << 20)),
    )
    .unwrap();
    while let Some(name) = writer.next_tensor().map(|t| t.name.clone()) {
        writer.write_tensor(&model.tensor_bytes(model.tensor(&name).unwrap()).unwrap()).unwrap();
    }
    let shards = writer.finish().unwrap();
    assert!(shards.len() >= 2, "{shards:?}");
    shards
}

fn selene(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_selene"));
    command.args(args).stdin(Stdio::null()).env_remove("HF_HUB_OFFLINE").env_remove("HF_TOKEN");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn generate(model: &str, env: &[(&str, &str)]) -> String {
    let out = selene(
        &[
            "generate",
            "--model",
            model,
            "--device",
            "cpu",
            "--max-tokens",
            "12",
            "--prompt",
            "The capital of France is",
        ],
        env,
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn hf_models_download_every_shard_into_the_cache_and_work_offline() {
    let dir = tempfile::tempdir().unwrap();
    let shards = split_model(dir.path());
    let mut files: HashMap<String, PathBuf> =
        shards.iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p.clone())).collect();
    let readme = dir.path().join("README.md");
    std::fs::write(&readme, "a model card").unwrap();
    files.insert("README.md".into(), readme);
    let hub = Hub::start(files);
    let hf_home = dir.path().join("hf-home");
    let hf_home = hf_home.to_str().unwrap();
    let online = [("HF_ENDPOINT", hub.endpoint.as_str()), ("HF_HOME", hf_home)];

    let expected = generate(shards[0].to_str().unwrap(), &[]);
    assert_eq!(generate(&format!("hf:{REPO}"), &online), expected);

    // The standard cache layout, every shard in it byte for byte.
    let snapshot = Path::new(hf_home).join("hub/models--selene-test--smollm2-split/snapshots").join(COMMIT);
    for shard in &shards {
        let cached = snapshot.join(shard.file_name().unwrap());
        let mut a = Vec::new();
        std::fs::File::open(&cached).unwrap().read_to_end(&mut a).unwrap();
        assert!(a == std::fs::read(shard).unwrap(), "{} differs from the served file", cached.display());
    }
    let requests = hub.requests();
    assert!(requests.iter().any(|r| r.starts_with(&format!("/api/models/{REPO}/revision/main"))), "{requests:?}");
    assert!(!requests.iter().any(|r| r.contains("README.md")), "only the model's files are fetched: {requests:?}");

    // Offline: no request at all, the files come from the cache.
    let before = hub.requests().len();
    let first = shards[0].file_name().unwrap().to_str().unwrap();
    let offline = [("HF_ENDPOINT", hub.endpoint.as_str()), ("HF_HOME", hf_home), ("HF_HUB_OFFLINE", "1")];
    assert_eq!(generate(&format!("hf:{REPO}:{first}"), &offline), expected);
    assert_eq!(hub.requests().len(), before, "offline mode made requests");

    // Offline without a file name, or with a file not in the cache: a clear error.
    let out = selene(&["inspect", &format!("hf:{REPO}")], &offline);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("offline"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = selene(&["inspect", &format!("hf:{REPO}:missing.gguf")], &offline);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the Hugging Face cache"));
}

#[test]
fn hf_names_are_checked_and_missing_repositories_are_errors() {
    let hub = Hub::start(HashMap::new());
    let dir = tempfile::tempdir().unwrap();
    let env = [("HF_ENDPOINT", hub.endpoint.as_str()), ("HF_HOME", dir.path().to_str().unwrap())];
    let out = selene(&["inspect", "hf:no-slash"], &env);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected hf:owner/repo"));
    let out = selene(&["inspect", "hf:someone/absent"], &env);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("someone/absent"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
