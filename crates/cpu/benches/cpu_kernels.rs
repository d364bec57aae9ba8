//! Throughput of the CPU kernels, written to `tools/bench/results/cpu_kernels.md`.
//!
//! `cargo bench -p selene-cpu --bench cpu_kernels [-- quick]`
//!
//! For each instruction set this CPU runs: one-token products (decoding: GB/s of weights
//! streamed) and 512-token products (a prompt: GOPS, two per multiply-add) of Llama-3-8B's
//! shapes, on rayon pools of 1 and 2 threads; then what a parallel region costs on decode-sized
//! products. Weights are random valid blocks (speed does not depend on the values). With
//! `GGML_MUL_MAT` naming a build of `benches/ggml_mul_mat.c`, the same products run through ggml
//! too. `quick` measures fewer shapes with shorter repeats and prints instead of writing.

use std::fmt::Write;
use std::process::Command;
use std::time::Instant;

use rayon::ThreadPool;
use rayon::prelude::*;
use selene_cpu::{QuantMatrix, SimdLevel};
use selene_gguf::GgmlType;
use selene_gguf::codec::f32_to_f16_bits;

/// Random blocks with small f16 factors wherever a block keeps them (as `ggml_mul_mat.c` makes).
fn weights(ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let mut state = 0x9E3779B97F4A7C15u64;
    let n = rows * cols / ty.block_size() * ty.block_bytes();
    let mut bytes: Vec<u8> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let small = f32_to_f16_bits(0.01).to_le_bytes();
    let factors: &[usize] = match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q6_K => &[208],
        _ => &[],
    };
    for b in bytes.chunks_exact_mut(ty.block_bytes()) {
        for &at in factors {
            b[at..at + 2].copy_from_slice(&small);
        }
    }
    bytes
}

fn activations(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.02).collect()
}

fn pool(threads: usize) -> ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

/// Seconds on a clock: elapsed, or (`cpu`) the calling thread's time on a CPU, which a busy
/// machine's other processes do not inflate (only meaningful when the work stays on this thread).
fn clock(cpu: bool) -> f64 {
    if cpu {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: a valid out-pointer and clock id.
        assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) }, 0);
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    } else {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_secs_f64()
    }
}

/// Median seconds of one call of `run`, over enough calls to fill about `budget` seconds.
fn time_on(cpu: bool, budget: f64, mut run: impl FnMut()) -> f64 {
    let mut call = || {
        let start = clock(cpu);
        run();
        clock(cpu) - start
    };
    let once = call();
    let calls = ((budget / once.max(1e-9)) as usize).clamp(3, 5000);
    let mut samples: Vec<f64> = (0..calls).map(|_| call()).collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn time(budget: f64, run: impl FnMut()) -> f64 {
    time_on(false, budget, run)
}

/// Whether one-thread products are timed on the CPU clock (`SELENE_BENCH_CPU_TIME=1`).
fn cpu_time() -> bool {
    std::env::var("SELENE_BENCH_CPU_TIME").is_ok_and(|v| v == "1")
}

/// Seconds of the same product through ggml, if `GGML_MUL_MAT` names the program.
fn ggml(ty: GgmlType, rows: usize, cols: usize, tokens: usize, threads: usize, budget: f64) -> Option<f64> {
    let program = std::env::var("GGML_MUL_MAT").ok()?;
    let args = [
        ty.name().to_string(),
        rows.to_string(),
        cols.to_string(),
        tokens.to_string(),
        threads.to_string(),
        budget.to_string(),
    ];
    let mut command = Command::new(program);
    if cpu_time() {
        command.env("GGML_BENCH_CPU_TIME", "1");
    }
    let output = command.args(args).output().ok()?;
    String::from_utf8_lossy(&output.stdout).split_whitespace().next()?.parse().ok()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().next().unwrap_or("?").to_string())
        .unwrap_or_default()
}

struct Setup {
    types: Vec<GgmlType>,
    shapes: Vec<(usize, usize)>,
    prompt: usize,
    budget: f64,
    threads: Vec<usize>,
    ggml: bool,
}

impl Setup {
    fn header(&self, report: &mut String, first: &str) {
        let mut columns = Vec::new();
        for level in SimdLevel::available() {
            columns.extend(self.threads.iter().map(|t| format!("{level} {t}T")));
        }
        if self.ggml {
            columns.extend(self.threads.iter().map(|t| format!("ggml {t}T")));
        }
        writeln!(report, "| {first} | {} |", columns.join(" | ")).unwrap();
        writeln!(report, "|---|---|{}", "---:|".repeat(columns.len() + first.matches('|').count() - 1)).unwrap();
    }

    /// One table row: `rate(seconds)` for every level and thread count, then ggml's.
    fn row(
        &self,
        report: &mut String,
        ty: GgmlType,
        (rows, cols): (usize, usize),
        tokens: usize,
        rate: impl Fn(f64) -> f64,
    ) {
        let bytes = weights(ty, rows, cols);
        let x = activations(tokens * cols);
        let mut out = vec![0f32; rows * tokens];
        for level in SimdLevel::available() {
            // The scalar path is slow on prompts: one call, and only the first shape.
            let slow = level == SimdLevel::Scalar && tokens > 1;
            if slow && (rows, cols) != self.shapes[0] {
                write!(report, "{}", " n/a |".repeat(self.threads.len())).unwrap();
                continue;
            }
            let m = QuantMatrix::new(bytes.clone(), ty, rows, cols).unwrap().with_simd(level).unwrap();
            for &threads in &self.threads {
                let budget = if slow { 0.0 } else { self.budget };
                let on_cpu = threads == 1 && cpu_time();
                let seconds = pool(threads).install(|| time_on(on_cpu, budget, || m.matmul(&x, tokens, &mut out)));
                write!(report, " {:.1} |", rate(seconds)).unwrap();
            }
        }
        if self.ggml {
            for &threads in &self.threads {
                match ggml(ty, rows, cols, tokens, threads, self.budget) {
                    Some(seconds) => write!(report, " {:.1} |", rate(seconds)).unwrap(),
                    None => write!(report, " failed |").unwrap(),
                }
            }
        }
        writeln!(report).unwrap();
        eprintln!("{}", report.lines().last().unwrap());
    }
}

fn decode_table(report: &mut String, setup: &Setup) {
    writeln!(report, "\n## Decoding: one token, GB/s of weights streamed\n").unwrap();
    setup.header(report, "type | shape | MB");
    for &ty in &setup.types {
        for &(rows, cols) in &setup.shapes {
            let mb = (rows * cols / ty.block_size() * ty.block_bytes()) as f64 / 1e6;
            write!(report, "| {ty} | {rows}x{cols} | {mb:.1} |").unwrap();
            setup.row(report, ty, (rows, cols), 1, |seconds| mb / 1e3 / seconds);
        }
    }
}

fn prompt_table(report: &mut String, setup: &Setup) {
    let tokens = setup.prompt;
    writeln!(report, "\n## Prompt: {tokens} tokens, GOPS (2 per multiply-add)\n").unwrap();
    setup.header(report, "type | shape");
    for &ty in &setup.types {
        for &(rows, cols) in &setup.shapes {
            write!(report, "| {ty} | {rows}x{cols} |").unwrap();
            setup.row(report, ty, (rows, cols), tokens, |seconds| 2.0 * (rows * cols * tokens) as f64 / seconds / 1e9);
        }
    }
}

/// What a parallel region costs a one-token product: the product on one thread without a region,
/// on 2 threads called from a pool thread (rayon's cheapest case: a join), and on 2 threads
/// called from a thread outside the pool (how Burn calls custom operations: rayon queues the
/// work and the caller sleeps until it is done).
fn overhead_table(report: &mut String, budget: f64) {
    writeln!(report, "\n## Cost of a parallel region (one token, best level)\n").unwrap();
    let (one, two) = (pool(1), pool(2));
    let empty = || {
        (0..2).into_par_iter().for_each(|i| {
            std::hint::black_box(i);
        })
    };
    let inside = two.install(|| time(budget, empty));
    let outside = time(budget, || two.install(empty));
    writeln!(
        report,
        "An empty region of 2 tasks costs {:.1} µs from a pool thread and {:.1} µs from outside the pool.\n",
        inside * 1e6,
        outside * 1e6
    )
    .unwrap();
    // Whether the second worker takes part at all: 8 busy tasks of a given length, split over the
    // 2-thread pool; how many the second worker ran and the elapsed time against 4 tasks' worth.
    for task_us in [50u128, 200, 2000] {
        let (stolen, elapsed) = two.install(|| {
            let start = Instant::now();
            let workers: Vec<Option<usize>> = (0..8)
                .into_par_iter()
                .map(|_| {
                    let t = Instant::now();
                    while t.elapsed().as_micros() < task_us {
                        std::hint::spin_loop();
                    }
                    rayon::current_thread_index()
                })
                .collect();
            (workers.iter().filter(|&&w| w != rayon::current_thread_index()).count(), start.elapsed().as_secs_f64())
        });
        writeln!(
            report,
            "8 busy tasks of {task_us} µs from a pool thread: {stolen} ran on the other worker, {:.0} µs elapsed (ideal {}).",
            elapsed * 1e6,
            4 * task_us
        )
        .unwrap();
    }
    writeln!(report).unwrap();
    writeln!(report, "| product | 1 thread µs | 2T from pool µs | 2T from outside µs | ideal 2T µs | outside overhead µs | share of 2T time |").unwrap();
    writeln!(report, "|---|---:|---:|---:|---:|---:|---:|").unwrap();
    for (ty, rows, cols) in [
        (GgmlType::Q4_1, 576, 576),
        (GgmlType::Q8_0, 576, 1536),
        (GgmlType::Q4_1, 4096, 4096),
        (GgmlType::Q4_K, 1024, 4096),
        (GgmlType::Q4_K, 4096, 4096),
    ] {
        let m = QuantMatrix::new(weights(ty, rows, cols), ty, rows, cols).unwrap();
        let x = activations(cols);
        let mut out = vec![0f32; rows];
        let t1 = one.install(|| time(budget, || m.matmul(&x, 1, &mut out)));
        let t2 = two.install(|| time(budget, || m.matmul(&x, 1, &mut out)));
        let t2_out = time(budget, || two.install(|| m.matmul(&x, 1, &mut out)));
        let ideal = t1 / 2.0;
        writeln!(
            report,
            "| {ty} {rows}x{cols} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0}% |",
            t1 * 1e6,
            t2 * 1e6,
            t2_out * 1e6,
            ideal * 1e6,
            (t2_out - ideal) * 1e6,
            100.0 * (t2_out - ideal) / t2_out
        )
        .unwrap();
        eprintln!("{}", report.lines().last().unwrap());
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let ggml = std::env::var("GGML_MUL_MAT").is_ok();
    let setup = if quick {
        Setup {
            types: vec![GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K],
            shapes: vec![(4096, 4096)],
            prompt: 128,
            budget: 0.3,
            threads: vec![1, 2],
            ggml,
        }
    } else {
        Setup {
            types: vec![GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K],
            shapes: vec![(4096, 4096), (14336, 4096)],
            prompt: 512,
            budget: 1.0,
            threads: vec![1, 2],
            ggml,
        }
    };
    let mut report = String::new();
    writeln!(report, "# CPU kernels (crates/cpu): throughput").unwrap();
    writeln!(
        report,
        "\nGenerated by `cargo bench -p selene-cpu --bench cpu_kernels`{}. CPU: {}, {} cores; load average {} before the \
         run. Median of repeated calls, {}; weights are random valid blocks; levels picked with \
         `QuantMatrix::with_simd`, threads with a local rayon pool (calls made from inside it).",
        if ggml { " with `GGML_MUL_MAT`" } else { "" },
        cpu_name(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
        if cpu_time() {
            "1-thread columns timed on the thread's CPU clock (time the thread ran, which other processes on a busy \
             machine do not inflate), 2-thread columns on the wall clock"
        } else {
            "timed on the wall clock"
        }
    )
    .unwrap();
    decode_table(&mut report, &setup);
    prompt_table(&mut report, &setup);
    overhead_table(&mut report, setup.budget);
    writeln!(report, "\nLoad average after the run: {}.", load_average()).unwrap();
    if quick {
        println!("{report}");
    } else {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/bench/results/cpu_kernels.md");
        std::fs::write(path, &report).expect("write the results");
        println!("{report}\nwritten to {path}");
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
