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
pub mod diagnostics;
pub mod error;
pub mod info;
pub mod install;
pub mod interrupt;
pub mod metadata;
pub mod native;
pub mod progress;
pub mod sbom;
pub mod settings;
pub mod stage;
pub mod tags;

use std::io::Write;
use std::process::ExitCode;

use error::{Error, Result};

/// Run one invocation; the error, if any, is reported by [`diagnostics::error`].
pub fn run(cli: cli::Cli) -> Result<ExitCode> {
    let stdout = &mut std::io::stdout().lock();
    match cli.command {
        Some(cli::Command::Completions { shell }) => {
            // clap_complete panics when its writer fails (a closed pipe): render, then write.
            let mut script = Vec::new();
            let mut command = <cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "rshiv", &mut script);
            stdout.write_all(&script)?;
        }
        Some(cli::Command::Man) => {
            clap_mangen::Man::new(<cli::Cli as clap::CommandFactory>::command()).render(stdout)?;
        }
        Some(cli::Command::Info(args)) => info::run(&args, stdout)?,
        Some(cli::Command::Cache(command)) => cache::run(&command, stdout)?,
        None => run_build(cli.build)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `rshiv [OPTIONS] [PIP_ARGS]...`: build, then one summary line. A bad configuration or
/// option is a usage error; anything from the build on is a failure.
fn run_build(mut args: cli::BuildArgs) -> Result<()> {
    interrupt::install();
    let cwd = std::env::current_dir()?;
    if let Some(project) = config::load(&cwd).map_err(Error::Usage)? {
        config::apply(&mut args, project);
    }
    let settings = settings::Settings::from_args(args, &cwd).map_err(Error::Usage)?;
    diagnostics::set_quiet(settings.quiet);
    let progress = progress::Bars::for_terminal(settings.quiet);
    let outcome = build::build(&settings, progress.as_ref())?;
    let id = &outcome.summary.build_id;
    diagnostics::note(&format!(
        "wrote {} ({}, {} files, build id {}, {:.2} s)",
        outcome.output.display(),
        progress::human_bytes(outcome.size),
        outcome.summary.files,
        id.get(..12).unwrap_or(id),
        outcome.seconds
    ));
    Ok(())
}
