//! The `rshiv` binary: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = rshiv::cli::parse();
    match rshiv::run(cli) {
        Ok(code) => code,
        Err(err) => rshiv::diagnostics::error(&err),
    }
}
