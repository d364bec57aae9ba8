//! Outputs appear complete or not at all, leave nothing behind, clear what killed writers left,
//! and a published folder is never missing, even for an instant.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use selene_atomic::{AtomicDir, AtomicFiles, write};

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_file_is_replaced_whole_and_its_folder_made() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/a.json");
    write(&path, b"one").unwrap();
    write(&path, b"two").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"two");
    assert_eq!(names(&dir.path().join("new")), ["a.json"]);
}

#[test]
fn a_set_appears_at_commit_and_not_at_all_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (1..=3).map(|i| dir.path().join(format!("m-{i:05}-of-00003.gguf"))).collect();
    let mut files = AtomicFiles::new();
    for p in &paths {
        use std::io::Write;
        files.create(p).unwrap().write_all(p.to_str().unwrap().as_bytes()).unwrap();
    }
    assert!(paths.iter().all(|p| !p.exists()), "nothing before the commit: {:?}", names(dir.path()));
    assert!(names(dir.path()).iter().all(|n| n.starts_with('.') && !n.ends_with(".gguf")), "{:?}", names(dir.path()));
    assert_eq!(files.commit().unwrap(), paths);
    for p in &paths {
        assert_eq!(fs::read(p).unwrap(), p.to_str().unwrap().as_bytes());
    }
    assert_eq!(names(dir.path()).len(), 3);

    let mut dropped = AtomicFiles::new();
    dropped.create(&dir.path().join("other.gguf")).unwrap();
    drop(dropped);
    assert_eq!(names(dir.path()).len(), 3, "{:?}", names(dir.path()));
}

#[test]
fn a_folder_replaces_an_older_one_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt");
    for content in ["x", "y"] {
        let staged = AtomicDir::create(&path).unwrap();
        fs::create_dir(staged.path().join("sub")).unwrap();
        fs::write(staged.path().join("sub/f"), content).unwrap();
        staged.publish().unwrap();
        assert_eq!(fs::read_to_string(path.join("sub/f")).unwrap(), content);
    }
    let abandoned = AtomicDir::create(&path).unwrap();
    fs::write(abandoned.path().join("f"), "z").unwrap();
    drop(abandoned);
    assert_eq!(names(dir.path()), ["ckpt"]);
    assert_eq!(names(&path), ["sub"]);
}

/// A process id that no longer runs: a child that has exited and been waited for.
#[cfg(unix)]
fn ended_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[cfg(unix)]
#[test]
fn leftovers_of_ended_writers_are_removed_by_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let ended = ended_pid();
    let live = std::process::id();
    let leftover_file = format!(".model.gguf.partial-{ended}-0");
    let leftover_dir = format!(".ckpt.partial-{ended}-3");
    let live_file = format!(".model.gguf.partial-{live}-999999");
    let unrelated = format!(".other.gguf.partial-{ended}-0");
    for name in [&leftover_file, &live_file, &unrelated] {
        fs::write(dir.path().join(name), "half a model").unwrap();
    }
    fs::create_dir_all(dir.path().join(&leftover_dir).join("sub")).unwrap();

    write(&dir.path().join("model.gguf"), b"whole").unwrap();
    AtomicDir::create(&dir.path().join("ckpt")).unwrap().publish().unwrap();

    let mut expected = vec![live_file, unrelated, "ckpt".to_owned(), "model.gguf".to_owned()];
    expected.sort();
    assert_eq!(names(dir.path()), expected, "only the ended writer's leftovers for these names go");
}

/// Publishes folder after folder while another thread looks for it; on Linux it must always be
/// there. Moving the old folder aside first (as `train` did) leaves it missing between two
/// renames, which this observes within a few hundred publications.
#[cfg(target_os = "linux")]
#[test]
fn a_published_folder_is_never_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export");
    let publish = |i: usize| {
        let staged = AtomicDir::create(&path).unwrap();
        fs::write(staged.path().join("config.json"), i.to_string()).unwrap();
        staged.publish().unwrap();
    };
    publish(0);
    let done = AtomicBool::new(false);
    let (looks, misses) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if fs::symlink_metadata(&path).is_err() {
                    misses.fetch_add(1, Ordering::Relaxed);
                }
                looks.fetch_add(1, Ordering::Relaxed);
            }
        });
        for i in 1..=200 {
            publish(i);
        }
        done.store(true, Ordering::Relaxed);
    });
    let (looks, misses) = (looks.into_inner(), misses.into_inner());
    assert!(looks > 1000, "the observer looked only {looks} times");
    assert_eq!(misses, 0, "the folder was missing in {misses} of {looks} looks");
    assert_eq!(fs::read_to_string(path.join("config.json")).unwrap(), "200");
    assert_eq!(names(dir.path()), ["export"]);
}
