//! Bad input: each mistake gets one clear line on stderr naming the culprit, a non-zero
//! exit, no panic, no traceback, and leaves no output file and no temp file behind.

use crate::support::{build_greet, greet, listing, Installer, Output, Test};

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

/// `--target=DIR` and friends are refused in their `=` spelling too (shiv lets them through).
#[test]
fn installer_options_with_inline_values_are_refused() {
    let (t, wheels) = setup();
    for bad in ["--target=x", "--prefix=x", "-tx"] {
        let out = t
            .rshiv()
            .args(["--no-index", "--find-links"])
            .arg(&wheels)
            .args(["greet", "-c", "greet", "-o", "out/app.pyz", bad])
            .run();
        refused(&t, &out, &[bad]);
    }
}

/// A bad `SHIV_ENTRY_POINT` at run time: one line naming it, no traceback.
#[test]
fn bad_entry_point_variable_at_run_time() {
    let python = crate::python!(11);
    let (t, wheels) = setup();
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    for (value, culprit) in [
        ("nosuchmod:main", "nosuchmod"),
        ("greet:nope", "greet:nope"),
    ] {
        t.pyz(&python, "app.pyz")
            .env("SHIV_ENTRY_POINT", value)
            .run()
            .failure()
            .stderr_line_with(&[culprit]);
    }
    t.pyz(&python, "app.pyz")
        .env("SHIV_CONSOLE_SCRIPT", "nosuch")
        .run()
        .failure()
        .stderr_line_with(&["nosuch", "greet-seven"]);
}

/// `-e` naming a module that only the build interpreter's site-packages has (pip), not the
/// payload nor the standard library, is refused: the pyz could not import it elsewhere.
#[test]
fn entry_point_module_only_in_build_site_packages() {
    let (t, wheels) = setup();
    let out = t.build(&["greet", "-e", "pip:main", "-o", "out/app.pyz"], &wheels);
    refused(&t, &out, &["pip"]);
}

/// Ctrl-C (SIGINT) or SIGTERM in the middle of writing: exit 130, no temp file beside the
/// output and no staging directory left in TMPDIR.
#[test]
fn interrupted_build_leaves_nothing_behind() {
    let t = Test::new();
    let mut noise = Vec::with_capacity(48 << 20);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    while noise.len() < 48 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        noise.extend_from_slice(&state.to_le_bytes());
    }
    t.write("sp/big.bin", &noise);
    t.write("sp/mod.py", "def main():\n    pass\n");
    let mut leftovers = Vec::new();
    for signal in ["INT", "TERM"] {
        let out = t.path(format!("out-{signal}"));
        let tmp = t.path(format!("tmp-{signal}"));
        std::fs::create_dir_all(&out).expect("create out/");
        std::fs::create_dir_all(&tmp).expect("create tmp/");
        let mut build = t
            .rshiv()
            .args([
                "--site-packages",
                "sp",
                "-e",
                "mod:main",
                "--compression",
                "lzma",
                "-j",
                "1",
            ])
            .arg("-o")
            .arg(out.join("app.pyz"))
            .env("TMPDIR", &tmp)
            .spawn(&t.path(format!("build-{signal}.log")));
        let started = std::time::Instant::now();
        while listing(&out).is_empty() && started.elapsed() < std::time::Duration::from_secs(60) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let finished = build.try_wait().expect("poll the build").is_some();
        std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(build.id().to_string())
            .status()
            .expect("send the signal");
        let status = build.wait().expect("wait for the build");
        if finished || status.success() {
            eprintln!("skipped SIG{signal}: the build finished before it could be interrupted");
            continue;
        }
        if status.code() != Some(130) {
            leftovers.push(format!("SIG{signal} exited with {status}, not 130"));
        }
        for (dir, place) in [(&out, "beside the output"), (&tmp, "in TMPDIR")] {
            let left = listing(dir);
            if !left.is_empty() {
                leftovers.push(format!("SIG{signal} left {left:?} {place}"));
            }
        }
    }
    assert!(leftovers.is_empty(), "{}", leftovers.join("\n"));
}

/// Options that contradict or name nothing: each refused with the culprit named.
#[test]
fn bad_option_values() {
    let (t, wheels) = setup();
    t.mkdir("out/is-a-dir");
    let cases: [(&[&str], &[&str]); 6] = [
        (&["-o", "out/is-a-dir"], &["out/is-a-dir"]),
        (
            &["-c", "greet", "--preamble", "no-such-preamble.py"],
            &["no-such-preamble.py"],
        ),
        (&["-c", "greet", "-e", "greet:main"], &["-e", "-c"]),
        (&["-c", "greet", "--build-id", "a/b"], &["a/b"]),
        (&["-c", "greet", "--compression", "zstd"], &["zstd"]),
        (&["-c", "greet", "--installer", "conda"], &["conda"]),
    ];
    for (args, culprits) in cases {
        let mut all = vec!["greet"];
        all.extend_from_slice(args);
        if !args.contains(&"-o") {
            all.extend_from_slice(&["-o", "out/app.pyz"]);
        }
        let out = t.build(&all, &wheels);
        out.failure().stderr_line_with(culprits);
        assert_eq!(
            listing(&t.path("out")),
            ["is-a-dir"],
            "{args:?} left a file"
        );
    }
}

/// A cache root that cannot be a directory (a regular file, or under `/proc` or `/sys` where
/// nothing can be created): the pyz either runs from a fallback or fails with one line naming
/// the root; never a traceback.
#[test]
fn unusable_cache_root() {
    let python = crate::python!(11);
    let (t, _) = setup();
    build_greet(&t, &["-c", "greet"], "app.pyz");
    let file = t.write("a-file", "");
    let roots = ["/proc/rshiv-test-root", "/sys/rshiv-test-root"].map(std::path::PathBuf::from);
    for root in std::iter::once(file).chain(roots) {
        let out = t.pyz(&python, "app.pyz").env("RSHIV_ROOT", &root).run();
        if out.code == Some(0) {
            out.stdout_is("hello from greet\n")
                .stderr_lacks("Traceback");
        } else {
            out.failure().stderr_line_with(&[&root.to_string_lossy()]);
        }
    }
}

/// Exit codes: 2 for usage (a bad option value, conflicting options, a bad `[tool.rshiv]`,
/// clap's own errors), 1 for a build that fails on good input; one `rshiv: error:` line each.
#[test]
fn usage_errors_exit_2_and_failures_exit_1() {
    let (t, wheels) = setup();
    t.write("sp/mod.py", "def main():\n    pass\n");
    let usage: &[&[&str]] = &[
        &["-e", "mod:main", "-c", "mod", "-o", "out/app.pyz"],
        &["-e", "not an entry point", "-o", "out/app.pyz"],
        &["--build-id", "a/b", "-e", "mod:main", "-o", "out/app.pyz"],
        &[
            "--compression",
            "zstd-99",
            "-e",
            "mod:main",
            "-o",
            "out/app.pyz",
        ],
        &["-e", "mod:main"],
        &["-j", "many", "-e", "mod:main", "-o", "out/app.pyz"],
    ];
    for args in usage {
        let out = t.rshiv().args(["--site-packages", "sp"]).args(*args).run();
        // clap's own errors start `error:`, rshiv's `rshiv: error:`.
        out.code(2).stderr_line_with(&["error:"]);
        assert_eq!(listing(&t.path("out")), Vec::<String>::new(), "{args:?}");
    }
    t.write(
        "project/pyproject.toml",
        "[tool.rshiv]\nentry-pont = \"mod:main\"\n",
    );
    t.rshiv()
        .current_dir("project")
        .args(["--site-packages", "../sp", "-o", "app.pyz"])
        .run()
        .code(2)
        .stderr_line_with(&["entry-pont", "pyproject.toml"]);
    t.build(
        &["no-such-dist-xyz", "-e", "mod:main", "-o", "out/app.pyz"],
        &wheels,
    )
    .code(1)
    .stderr_line_with(&["rshiv: error:"]);
    t.rshiv()
        .args(["info"])
        .arg(t.path("sp/mod.py"))
        .run()
        .code(1);
    t.rshiv()
        .args(["info", "--json", "--sbom", "-"])
        .arg(t.path("sp/mod.py"))
        .run()
        .code(2);
}
