//! Progress reporting: the only module that knows about indicatif.
//!
//! Library code reports through the small [`Progress`] trait; the binary picks a reporter:
//! bars on a terminal, nothing when stderr is a pipe (Jenkins logs) or with `-q`.

/// A long step of a build, shown as one bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
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
