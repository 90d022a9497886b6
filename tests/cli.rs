//! The command line itself: `--help` and `--version` as a shiv user would read them.

use crate::support::{build_greet, python, Test};

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
        "--no-reuse-build-env",
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

/// A reader that has gone away (`rshiv man | head -1`) is a clean exit, not a panic or an
/// error: each command writes into a pipe whose read end is already closed.
#[test]
fn broken_pipe_is_a_clean_exit() {
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "app.pyz");
    let pyz = t.path("app.pyz").to_string_lossy().into_owned();
    let root = t.root().to_string_lossy().into_owned();
    if let Some(python) = python(11) {
        t.pyz(&python, "app.pyz").run().success();
    }
    let mut failures = Vec::new();
    for args in [
        &["--help"][..],
        &["--version"],
        &["man"],
        &["completions", "bash"],
        &["info", &pyz],
        &["info", "--json", &pyz],
        &["cache", "list", "--root", &root],
    ] {
        let (reader, writer) = std::io::pipe().expect("create a pipe");
        drop(reader);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rshiv"))
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run rshiv");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !stderr.is_empty() {
            failures.push(format!("rshiv {args:?}: {}\n{stderr}", out.status));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Short options with an attached value (`-j1`, `-oFILE`, `-cNAME`), first on the line as a
/// user types them, are rshiv's and the build runs.
#[test]
fn attached_short_values_build() {
    let python = crate::python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[crate::support::greet()]);
    t.rshiv()
        .args([
            "-j1",
            "-q",
            "-oapp.pyz",
            "-cgreet",
            "--no-index",
            "--find-links",
        ])
        .arg(&wheels)
        .arg("greet")
        .run()
        .success();
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// The exit codes are documented where a user looks: `--help` and the man page.
#[test]
fn help_and_man_page_document_the_exit_codes() {
    let t = Test::new();
    for args in [&["--help"][..], &["man"]] {
        let out = t.rshiv().args(args).run();
        out.success();
        let text = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        for code in [
            "0 success",
            "1 the build or install failed",
            "2 usage error",
            "130 interrupted",
        ] {
            assert!(text.contains(code), "`rshiv {}` lacks {code:?}", args[0]);
        }
    }
}
