//! The one way rshiv speaks to the user on stderr: notes (silenced by `-q`), warnings and
//! the final error line, each prefixed `rshiv:`. Data goes to stdout; progress bars are
//! `progress`'s.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Error;

static QUIET: AtomicBool = AtomicBool::new(false);

/// `-q`: from now on, notes are not printed (warnings and errors still are).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// What rshiv is doing or did: `rshiv: wrote app.pyz (...)`. Nothing with `-q`.
pub fn note(message: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        line(message);
    }
}

/// Something the user should know although the command goes on: `rshiv: warning: ...`.
pub fn warning(message: &str) {
    line(&format!("warning: {message}"));
}

/// Output of a program rshiv ran (the installer, a build backend), passed through as it is.
pub fn relay(output: &str) {
    let _ = std::io::stderr().write_all(output.as_bytes());
}

/// A failed program's output, each line indented under the error that follows it: `  | ...`.
pub fn relay_indented(output: &str) {
    let mut stderr = std::io::stderr().lock();
    for text in output.lines() {
        let _ = writeln!(stderr, "  | {text}");
    }
}

/// Print an error as one line, `rshiv: error: what: cause: cause`, and return its exit
/// code; a closed stdout is a clean exit and prints nothing.
pub fn error(err: &Error) -> ExitCode {
    if err.is_broken_pipe() {
        return ExitCode::SUCCESS;
    }
    line(&format!("error: {}", err.chain().join(": ").trim_end()));
    ExitCode::from(err.exit_code())
}

fn line(message: &str) {
    // stderr closed too: nowhere left to say anything.
    let _ = writeln!(std::io::stderr(), "rshiv: {message}");
}
