//! Bad input: each mistake gets one clear line on stderr naming the culprit, a non-zero
//! exit, no panic, no traceback, and leaves no output file and no temp file behind.

use crate::support::{greet, listing, Installer, Output, Test};

/// A test with fixture wheels and an empty `out/` directory for the output.
fn setup() -> (Test, std::path::PathBuf) {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    std::fs::create_dir_all(t.path("out")).expect("create out/");
    (t, wheels)
}

/// The output directory is still empty, and the error line names every culprit.
#[track_caller]
fn refused(t: &Test, out: &Output, culprits: &[&str]) {
    out.failure().stderr_line_with(culprits);
    assert_eq!(
        listing(&t.path("out")),
        Vec::<String>::new(),
        "left behind in out/"
    );
}

#[test]
fn unknown_console_script_lists_the_existing_ones() {
    let (t, wheels) = setup();
    let out = t.build(&["greet", "-c", "nosuch", "-o", "out/app.pyz"], &wheels);
    refused(&t, &out, &["nosuch", "greet", "greet-seven"]);
}

#[test]
fn missing_output_file() {
    let (t, wheels) = setup();
    let out = t.build(&["greet", "-c", "greet"], &wheels);
    refused(&t, &out, &["--output-file"]);
}

#[test]
fn nonexistent_requirement() {
    let (t, wheels) = setup();
    let out = t.build(
        &["no-such-dist-xyz", "-c", "greet", "-o", "out/app.pyz"],
        &wheels,
    );
    refused(&t, &out, &["no-such-dist-xyz"]);
}

#[test]
fn output_directory_missing() {
    let (t, wheels) = setup();
    let out = t.build(
        &["greet", "-c", "greet", "-o", "out/missing/app.pyz"],
        &wheels,
    );
    refused(&t, &out, &["out/missing"]);
}

/// A shebang line the kernel would truncate (over 127 bytes) is refused; a long one that
/// fits is accepted.
#[test]
fn over_long_shebang() {
    let (t, wheels) = setup();
    let long = format!("/opt/{}/bin/python3", "x".repeat(150));
    let out = t.build(
        &["greet", "-c", "greet", "-p", &long, "-o", "out/app.pyz"],
        &wheels,
    );
    refused(&t, &out, &["127"]);
    let fits = format!("/opt/{}/bin/python3", "x".repeat(90));
    t.build(
        &["greet", "-c", "greet", "-p", &fits, "-o", "fits.pyz"],
        &wheels,
    )
    .success();
}

#[test]
fn missing_site_packages_dir() {
    let (t, _) = setup();
    let out = t
        .rshiv()
        .args([
            "--site-packages",
            "no-such-dir",
            "-e",
            "json.tool",
            "-o",
            "out/app.pyz",
        ])
        .run();
    refused(&t, &out, &["no-such-dir"]);
}

#[test]
fn missing_entry_point_module() {
    let (t, wheels) = setup();
    let out = t.build(
        &["greet", "-e", "nosuchmod:main", "-o", "out/app.pyz"],
        &wheels,
    );
    refused(&t, &out, &["nosuchmod"]);
}

#[test]
fn malformed_entry_points() {
    let (t, _) = setup();
    t.write("sp/greet.py", "def main():\n    pass\n");
    for bad in [
        "greet:",
        ":main",
        "greet:main:x",
        "gre et:main",
        "1greet:main",
        "greet:ma-in",
        "",
    ] {
        let out = t
            .rshiv()
            .args(["--site-packages", "sp", "-e", bad, "-o", "out/app.pyz"])
            .run();
        refused(&t, &out, &["-e"]);
        if !bad.is_empty() {
            out.stderr_contains(bad);
        }
    }
}

/// `--installer uv` when uv is not on PATH says so, and names uv.
#[test]
fn installer_not_installed() {
    let (t, wheels) = setup();
    let out = t
        .rshiv()
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .args([
            "--installer",
            "uv",
            "greet",
            "-c",
            "greet",
            "-o",
            "out/app.pyz",
        ])
        .without_uv()
        .run();
    refused(&t, &out, &["uv"]);
}

/// `--build-python` that does not exist is named.
#[test]
fn build_python_missing() {
    let (t, wheels) = setup();
    let out = t
        .rshiv()
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .args(["--installer", Installer::preferred().name()])
        .args([
            "--build-python",
            "/no/such/python3",
            "greet",
            "-c",
            "greet",
            "-o",
            "out/app.pyz",
        ])
        .run();
    refused(&t, &out, &["/no/such/python3"]);
}

/// Installer options that would defeat staging (`--target`, `--user`, ...) are refused.
#[test]
fn installer_options_rshiv_controls_are_refused() {
    let (t, wheels) = setup();
    for bad in ["--target", "--user", "--prefix", "--editable"] {
        let mut cmd = t.rshiv();
        cmd.args(["--no-index", "--find-links"]).arg(&wheels).args([
            "greet",
            "-c",
            "greet",
            "-o",
            "out/app.pyz",
            bad,
        ]);
        if bad != "--user" {
            cmd.arg("x");
        }
        refused(&t, &cmd.run(), &[bad]);
    }
}

/// With neither requirements nor a project here, rshiv says what it needs.
#[test]
fn nothing_to_build() {
    let (t, _) = setup();
    let out = t.rshiv().args(["-c", "greet", "-o", "out/app.pyz"]).run();
    refused(&t, &out, &["pyproject.toml"]);
}
