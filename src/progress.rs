//! Progress reporting: the only module that knows about indicatif.
//!
//! Library code reports through the small [`Progress`] trait; the binary picks a reporter:
//! bars on a terminal, nothing when stderr is a pipe (Jenkins logs) or with `-q`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A long step of a build, shown as one bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Building a local project into a wheel (a spinner).
    Building,
    /// Running the installer (no known total: a spinner).
    Installing,
    /// Compressing and writing the payload; total and increments are bytes.
    Packing,
}

/// Receives progress from library code. Implementations must be cheap and thread-safe:
/// `advance` is called from worker threads.
pub trait Progress: Sync {
    /// A step starts; `total` is its size in its own unit, if known.
    fn start(&self, step: Step, total: Option<u64>);
    /// `n` more units of the current step are done.
    fn advance(&self, n: u64);
    /// The current step is over.
    fn finish(&self);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: Step, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// indicatif bars on stderr.
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    /// Bars when stderr is a terminal and the user did not ask for quiet, else silence.
    pub fn for_terminal(quiet: bool) -> Box<dyn Progress> {
        if quiet || !std::io::stderr().is_terminal() {
            Box::new(Silent)
        } else {
            Box::new(Bars {
                bar: Mutex::new(None),
            })
        }
    }

    fn with_bar(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        if let Ok(mut guard) = self.bar.lock() {
            f(&mut guard);
        }
    }
}

impl Progress for Bars {
    fn start(&self, step: Step, total: Option<u64>) {
        let bar = match (step, total) {
            (Step::Packing, Some(total)) => {
                let bar = ProgressBar::new(total);
                let style = ProgressStyle::with_template(
                    "{prefix:>10} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix("packing");
                bar
            }
            _ => {
                let bar = ProgressBar::new_spinner();
                bar.set_message(match step {
                    Step::Building => "building",
                    Step::Installing => "installing",
                    Step::Packing => "packing",
                });
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            }
        };
        self.with_bar(|slot| {
            if let Some(old) = slot.replace(bar) {
                old.finish_and_clear();
            }
        });
    }

    fn advance(&self, n: u64) {
        self.with_bar(|slot| {
            if let Some(bar) = slot {
                bar.inc(n);
            }
        });
    }

    fn finish(&self) {
        self.with_bar(|slot| {
            if let Some(bar) = slot.take() {
                bar.finish_and_clear();
            }
        });
    }
}

/// `1.5 MiB`-style sizes for summaries and listings.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
