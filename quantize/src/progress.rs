//! A progress line on stderr: tensors done, bytes converted, rate and time left. Redrawn in
//! place on a terminal; otherwise only the final summary is printed, so logs stay readable.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    live: bool,
    quiet: bool,
    tensors: usize,
    tensors_done: usize,
    bytes: u64,
    bytes_done: u64,
    start: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    /// `enabled = false` prints nothing at all.
    pub fn new(enabled: bool, tensors: usize, bytes: u64) -> Progress {
        let live = enabled && std::io::stderr().is_terminal();
        Progress {
            live,
            quiet: !enabled,
            tensors,
            tensors_done: 0,
            bytes,
            bytes_done: 0,
            start: Instant::now(),
            last_draw: None,
        }
    }

    pub fn advance_bytes(&mut self, n: u64) {
        self.bytes_done += n;
        self.draw("");
    }

    pub fn tensor_done(&mut self, name: &str) {
        self.tensors_done += 1;
        self.draw(name);
    }

    fn draw(&mut self, name: &str) {
        if !self.live || self.last_draw.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let elapsed = self.start.elapsed().as_secs_f64();
        let fraction = if self.bytes == 0 { 1.0 } else { self.bytes_done as f64 / self.bytes as f64 };
        let eta = if fraction > 0.0 { elapsed * (1.0 - fraction) / fraction } else { 0.0 };
        let width = 30;
        let filled = ((fraction * width as f64) as usize).min(width);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2K[{}{}] {}/{} tensors  {}/{}  {}/s  ETA {}  {name}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.tensors_done,
            self.tensors,
            human(self.bytes_done),
            human(self.bytes),
            human((self.bytes_done as f64 / elapsed.max(1e-3)) as u64),
            clock(eta),
        );
    }

    pub fn finish(self) {
        if self.quiet {
            return;
        }
        let elapsed = self.start.elapsed().as_secs_f64();
        let clear = if self.live { "\r\x1b[2K" } else { "" };
        eprintln!("{clear}{} tensors, {} read in {}", self.tensors_done, human(self.bytes_done), clock(elapsed));
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut x = bytes as f64;
    let mut unit = 0;
    while x >= 1000.0 && unit + 1 < UNITS.len() {
        x /= 1000.0;
        unit += 1;
    }
    format!("{x:.1} {}", UNITS[unit])
}

fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
