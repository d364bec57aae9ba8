//! The progress bar on stderr, drawn by `indicatif` as `selene`'s is: bytes of the checkpoint
//! converted, rate, time left, tensors done and the tensor being written. indicatif draws only
//! on a terminal, so logs get the final summary line alone.

use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressStyle};

pub struct Progress {
    /// `None` when quiet: nothing is printed at all.
    bar: Option<ProgressBar>,
    tensors: usize,
    tensors_done: usize,
}

impl Progress {
    pub fn new(enabled: bool, tensors: usize, bytes: u64) -> Progress {
        let style = ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes}  {bytes_per_sec}  ETA {eta}  {msg}")
            .expect("a valid template");
        let bar = enabled.then(|| ProgressBar::new(bytes).with_style(style));
        Progress { bar, tensors, tensors_done: 0 }
    }

    pub fn advance_bytes(&mut self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    pub fn tensor_done(&mut self, name: &str) {
        self.tensors_done += 1;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}/{} tensors  {name}", self.tensors_done, self.tensors));
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
            let (read, took) = (HumanBytes(bar.position()), HumanDuration(bar.elapsed()));
            eprintln!("{} tensors, {read} read in {took}", self.tensors_done);
        }
    }
}
