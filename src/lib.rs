//! rshiv: turn a Python project and all of its dependencies into one executable file, a
//! PEP 441 zip application that extracts itself into a content-addressed cache on its first
//! run. A drop-in replacement for shiv.
//!
//! The binary (`main.rs`) only parses and maps errors to exit codes; everything else is here.

pub mod archive;
pub mod build;
pub mod cache;
pub mod cli;
pub mod config;
pub mod info;
pub mod install;
pub mod metadata;
pub mod progress;
pub mod sbom;
pub mod settings;
pub mod stage;
pub mod tags;

use std::io::Write;
use std::process::ExitCode;

/// Run one invocation; the error, if any, is reported by [`report_error`].
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    let _ = cli;
    anyhow::bail!("not yet implemented")
}

/// Print an error as one line (`rshiv: error: ...: cause`) and choose the exit code.
///
/// A broken pipe on stdout (`rshiv cache list | head`) is a clean exit, not an error.
pub fn report_error(err: &anyhow::Error) -> ExitCode {
    if err
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return ExitCode::SUCCESS;
    }
    let mut line = String::from("rshiv: error: ");
    for (i, cause) in err.chain().enumerate() {
        if i > 0 {
            line.push_str(": ");
        }
        line.push_str(&cause.to_string());
    }
    let _ = writeln!(std::io::stderr(), "{}", line.trim_end());
    ExitCode::from(1)
}
