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

/// Run one invocation; the error, if any, is reported by [`report_error`].
pub fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
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

/// `rshiv [OPTIONS] [PIP_ARGS]...`: build, then one summary line.
fn run_build(mut args: cli::BuildArgs) -> anyhow::Result<()> {
    interrupt::install();
    let cwd = std::env::current_dir()?;
    if let Some(project) = config::load(&cwd)? {
        config::apply(&mut args, project);
    }
    let settings = settings::Settings::from_args(args, &cwd)?;
    let progress = progress::Bars::for_terminal(settings.quiet);
    let outcome = build::build(&settings, progress.as_ref())?;
    let id = &outcome.summary.build_id;
    build::say(
        &settings,
        &format!(
            "wrote {} ({}, {} files, build id {}, {:.2} s)",
            outcome.output.display(),
            progress::human_bytes(outcome.size),
            outcome.summary.files,
            id.get(..12).unwrap_or(id),
            outcome.seconds
        ),
    );
    Ok(())
}

/// Print an error as one line (`rshiv: error: ...: cause`) and choose the exit code.
///
/// A broken pipe on stdout (`rshiv cache list | head`) is a clean exit, not an error.
pub fn report_error(err: &anyhow::Error) -> ExitCode {
    let broken_pipe = err.chain().any(|cause| {
        let kind = match cause.downcast_ref::<serde_json::Error>() {
            Some(json) => json.io_error_kind(),
            None => cause
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
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
