//! The process's one pool of worker threads: rayon's global pool, which the CPU engine's
//! kernels and Burn's CPU backend both run on.
//!
//! A parallel operation started from outside the pool waits for a worker to wake (about 14 µs,
//! `tools/bench/results/cpu_kernels.md`), so each forward pass runs inside the pool and its
//! operations split work among threads that are already awake.

use crate::error::{Result, RuntimeError};

/// Sizes the pool: `threads`, or one per physical core. Call it before anything runs in parallel
/// (a second call may only ask for the size the pool has); returns the number of threads.
pub fn use_threads(threads: Option<usize>) -> Result<usize> {
    let threads = threads.unwrap_or_else(physical_cores).max(1);
    let built =
        rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("selene-{i}")).build_global();
    match built {
        Ok(()) => Ok(threads),
        Err(_) if rayon::current_num_threads() == threads => Ok(threads),
        Err(e) => Err(RuntimeError::Invalid(format!(
            "the thread pool already runs {} threads, not {threads}: {e}",
            rayon::current_num_threads()
        ))),
    }
}

/// Threads in the pool.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// Runs `work` on a thread of the pool.
pub(crate) fn in_pool<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    rayon::scope(|_| work())
}

/// Physical cores, as llama.cpp counts them for its default: hyper-threads share a core's
/// arithmetic units, so a second thread per core adds memory traffic, not speed. Where the
/// system does not say (or on other systems than Linux), every logical CPU.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    #[cfg(target_os = "linux")]
    {
        let cores: std::collections::BTreeSet<String> = (0..logical)
            .filter_map(|cpu| {
                std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")).ok()
            })
            .collect();
        if !cores.is_empty() {
            return cores.len();
        }
    }
    logical
}
