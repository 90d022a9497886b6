//! The command line itself: `--help` and `--version` as a shiv user would read them.

use crate::support::Test;

/// `--help` lists every one of shiv's options and rshiv's own build options.
#[test]
fn help_lists_every_option() {
    let out = Test::new().rshiv().arg("--help").run();
    out.success();
    for option in [
        "--entry-point",
        "--console-script",
        "--output-file",
        "--python",
        "--site-packages",
        "--compressed",
        "--uncompressed",
        "--compile-pyc",
        "--extend-pythonpath",
        "--reproducible",
        "--no-modify",
        "--preamble",
        "--root",
        "--build-id",
        "--installer",
        "--build-python",
    ] {
        out.stdout_contains(option);
    }
}

/// The usage line shows that further arguments go to the installer, as shiv's
/// `shiv [OPTIONS] [PIP_ARGS]...` does.
#[test]
fn usage_shows_installer_arguments() {
    let out = Test::new().rshiv().arg("--help").run();
    out.success();
    let usage = out
        .stdout
        .lines()
        .find(|line| line.starts_with("Usage:"))
        .unwrap_or_default();
    assert!(usage.contains("ARGS]..."), "usage line: {usage:?}");
}

#[test]
fn version() {
    Test::new()
        .rshiv()
        .arg("--version")
        .run()
        .success()
        .stdout_is(&format!("rshiv {}\n", env!("CARGO_PKG_VERSION")));
}
