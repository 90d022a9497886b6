//! Ctrl-C and SIGTERM during a build: remove what the build had half-written, then exit.
//!
//! A signal ends the process without unwinding, so the temporary files' destructors never
//! run. Paths are registered here while they exist; the handler (on its own thread, not in
//! signal context) removes them and exits with `Error::Interrupted`'s code, 130.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Install the handler once, at start-up.
pub fn install() {
    // Failing to install (a handler already set) only loses the clean-up; not worth an error.
    let _ = ctrlc::set_handler(|| {
        let paths = PENDING.lock().map(|p| p.clone()).unwrap_or_default();
        for path in paths.iter().rev() {
            remove(path);
        }
        let interrupted = crate::error::Error::Interrupted;
        crate::diagnostics::error(&interrupted);
        std::process::exit(interrupted.exit_code().into());
    });
}

/// Registers `path` for removal on interrupt until it is dropped.
pub struct Pending(PathBuf);

impl Pending {
    pub fn new(path: &Path) -> Pending {
        if let Ok(mut pending) = PENDING.lock() {
            pending.push(path.to_path_buf());
        }
        Pending(path.to_path_buf())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Ok(mut pending) = PENDING.lock() {
            if let Some(i) = pending.iter().rposition(|p| *p == self.0) {
                pending.remove(i);
            }
        }
    }
}

/// Remove a file or a whole tree; the build may still be writing into it, so try twice.
fn remove(path: &Path) {
    for _ in 0..2 {
        let result = if path.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        if result.is_ok() || !path.exists() {
            return;
        }
    }
}
