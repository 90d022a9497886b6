//! Running an installer or a build hook: its output kept (and shown only when it fails) or
//! sent to the terminal, and read on a thread of its own so that it never blocks on a full
//! pipe.

use std::io::{self, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

/// A command that ran and failed: how it ended and what it printed.
#[derive(Debug)]
pub struct Failure {
    /// `exit code 1`, `a signal`.
    pub code: String,
    /// Its merged output (empty when it went to the terminal).
    pub output: String,
}

/// Why [`run_reported`] did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started (or waited for) at all.
    #[error("could not run {program}")]
    Start {
        program: String,
        #[source]
        source: io::Error,
    },
    /// It ran and failed.
    #[error("{program} failed ({})", .failure.code)]
    Failed { program: String, failure: Failure },
}

/// Run `command`: with `verbose`, its output goes straight to the terminal; otherwise it is
/// kept, and on failure shown on stderr, each line marked `  | `.
pub fn run_reported(mut command: Command, verbose: bool) -> Result<(), RunError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let outcome = if verbose {
        command
            .stdin(Stdio::null())
            .status()
            .map(|status| (status, String::new()))
    } else {
        run_captured(command)
    };
    let (status, output) = match outcome {
        Ok(outcome) => outcome,
        Err(source) => return Err(RunError::Start { program, source }),
    };
    if status.success() {
        return Ok(());
    }
    crate::diagnostics::relay_indented(&output);
    let failure = Failure {
        code: describe_status(status),
        output,
    };
    Err(RunError::Failed { program, failure })
}

/// `exit code 1`, `a signal`.
pub fn describe_status(status: ExitStatus) -> String {
    status
        .code()
        .map_or("a signal".to_string(), |c| format!("exit code {c}"))
}

/// Run with stdout and stderr merged into one captured text.
pub fn run_captured(command: Command) -> io::Result<(ExitStatus, String)> {
    spawn_captured(command)?.wait()
}

/// A command started with its stdout and stderr merged into one captured text, read on a
/// thread of its own so that the command never blocks on a full pipe. Dropped before
/// [`Background::wait`], the command is killed.
pub struct Background {
    child: Child,
    reader: Option<JoinHandle<io::Result<Vec<u8>>>>,
}

pub fn spawn_captured(mut command: Command) -> io::Result<Background> {
    let (mut reader, writer) = io::pipe()?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let child = command.spawn()?;
    // The command holds the pipe's write ends: drop it so that reading ends with the child.
    drop(command);
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).map(|_| bytes)
    });
    Ok(Background {
        child,
        reader: Some(reader),
    })
}

impl Background {
    /// How the command ended and what it printed.
    pub fn wait(mut self) -> io::Result<(ExitStatus, String)> {
        let bytes = self.read_all()?;
        let status = self.child.wait()?;
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        match self.reader.take() {
            Some(reader) => reader
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the output reader panicked"))),
            None => Ok(Vec::new()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.read_all();
            let _ = self.child.wait();
        }
    }
}
