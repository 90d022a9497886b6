//! rshiv as a Python package: the wheel maturin builds from `pyproject.toml` (its tags, its
//! binaries, its metadata), installed with pip into a fresh venv, with `uv tool install` and
//! with `uvx`; the uv of that environment found beside the installed command; the sdist
//! built from source, and its error without cargo.
//!
//! maturin comes from `$RSHIV_TEST_MATURIN`, else PATH (.ci/run installs it into .ci/venv);
//! without it these tests fail under `CI=true` and are skipped elsewhere. The wheel is built
//! once per run with the dev profile from the suite's own build directory, so it packs the
//! binaries cargo has just built for the tests instead of compiling them again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::network::{copy_example, offline, serves_hello_world};
use crate::support::pyz::{members, Member};
use crate::support::{greet, on_path, Test};
use crate::{python, uv};

/// maturin, or (outside CI) skip the test saying why.
macro_rules! maturin {
    () => {
        match maturin() {
            Some(maturin) => maturin,
            None if std::env::var_os("CI").is_some_and(|v| v == "true") => {
                panic!("maturin not found under CI=true (.ci/run installs it into .ci/venv)")
            }
            None => {
                eprintln!("skipped: maturin not found (put it on PATH or set RSHIV_TEST_MATURIN)");
                return;
            }
        }
    };
}

/// `$RSHIV_TEST_MATURIN`, else the first `maturin` on PATH.
fn maturin() -> Option<PathBuf> {
    std::env::var_os("RSHIV_TEST_MATURIN")
        .map(PathBuf::from)
        .filter(|path| path.is_file())
        .or_else(|| on_path("maturin"))
}

/// The checkout: where Cargo.toml and pyproject.toml are.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory this suite was built in (`<target>/debug/rshiv`).
fn target_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rshiv"))
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in <target>/<profile>/")
}

/// The names of the crate's binaries, as cargo sees them (declared `[[bin]]`s and
/// discovered `src/bin/*.rs` alike): one today, two once the launcher is a binary too.
fn binaries() -> BTreeSet<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .arg("--manifest-path")
        .arg(repo().join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "cargo metadata failed");
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let binaries: BTreeSet<String> = metadata["packages"][0]["targets"]
        .as_array()
        .expect("a package has targets")
        .iter()
        .filter(|target| {
            target["kind"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == "bin")
        })
        .map(|target| target["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(binaries.contains("rshiv"), "{binaries:?}");
    binaries
}

/// The variables that have a cargo run by maturin reuse the suite's compiled crates (its
/// build directory, `$CARGO_BUILD_BUILD_DIR` if set) but put the binaries it links into
/// `<target>/NAME`: a cargo run on the suite's own target directory would re-link
/// `<target>/debug/rshiv` while other tests run it.
fn reuse_the_suites_build(name: &str) -> [(&'static str, PathBuf); 2] {
    let build_dir = std::env::var_os("CARGO_BUILD_BUILD_DIR")
        .map_or_else(|| target_dir().to_owned(), PathBuf::from);
    [
        ("CARGO_BUILD_BUILD_DIR", build_dir),
        ("CARGO_TARGET_DIR", target_dir().join(name)),
    ]
}

/// The wheel, built once per run: `maturin build --profile dev` into `<target>/test-wheel`.
fn wheel(maturin: &Path) -> &'static Path {
    static WHEEL: OnceLock<PathBuf> = OnceLock::new();
    WHEEL.get_or_init(|| {
        let out = target_dir().join("test-wheel");
        let _ = std::fs::remove_dir_all(&out);
        let output = Command::new(maturin)
            .args(["build", "--profile", "dev", "--locked"])
            .arg("--manifest-path")
            .arg(repo().join("Cargo.toml"))
            .arg("--out")
            .arg(&out)
            .envs(reuse_the_suites_build("test-wheel-cargo"))
            .output()
            .expect("run maturin");
        assert!(
            output.status.success(),
            "maturin build failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let wheels: Vec<PathBuf> = std::fs::read_dir(&out)
            .expect("maturin's output directory")
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        assert_eq!(wheels.len(), 1, "one wheel: {wheels:?}");
        wheels[0].clone()
    })
}

/// The platform tag this machine's wheel must carry: manylinux for this architecture, at
/// the glibc version the binaries' symbols need (maturin's auditwheel check decides it).
fn platform_tag_is_right(tag: &str) -> bool {
    let arch = std::env::consts::ARCH;
    match tag.strip_prefix("manylinux_2_") {
        Some(rest) => rest
            .strip_suffix(&format!("_{arch}"))
            .is_some_and(|minor| minor.parse::<u32>().is_ok()),
        None => false,
    }
}

/// The `Key: value` headers of a METADATA or WHEEL file (RFC 822 style) and its body.
fn headers(text: &str) -> (Vec<(&str, &str)>, &str) {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let fields = head
        .lines()
        .filter_map(|line| line.split_once(": "))
        .collect();
    (fields, body)
}

fn field<'a>(fields: &[(&str, &'a str)], key: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .collect()
}

fn text(member: &Member) -> &str {
    std::str::from_utf8(&member.data).expect("UTF-8 metadata")
}

/// The wheel's name and tags (PEP 427, PEP 425), its members (every binary of the crate as
/// an executable script, the very file cargo built, and nothing else), and its metadata
/// (PEP 621/643 core metadata: name, version, summary, licence and readme from Cargo.toml).
#[test]
fn wheel_carries_the_binaries_and_the_crate_metadata() {
    let maturin = maturin!();
    let wheel = wheel(&maturin);
    let version = env!("CARGO_PKG_VERSION");
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    let tags = name
        .strip_prefix(&format!("rshiv-{version}-py3-none-"))
        .and_then(|rest| rest.strip_suffix(".whl"))
        .unwrap_or_else(|| panic!("rshiv-{version}-py3-none-PLATFORM.whl, not {name}"));
    assert!(platform_tag_is_right(tags), "platform tag {tags}");

    let bytes = std::fs::read(wheel).expect("read the wheel");
    let members = members(&bytes).expect("a wheel is a zip");
    let member = |name: &str| {
        members
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} in the wheel"))
    };
    let data = format!("rshiv-{version}.data/scripts/");
    let info = format!("rshiv-{version}.dist-info/");
    let scripts: BTreeSet<String> = members
        .iter()
        .filter_map(|m| m.name.strip_prefix(&data).map(str::to_owned))
        .collect();
    assert_eq!(scripts, binaries());
    for script in &scripts {
        let member = member(&format!("{data}{script}"));
        assert!(member.mode.unwrap() & 0o111 != 0, "{script} is executable");
        let built = std::fs::read(target_dir().join("debug").join(script)).expect("cargo's file");
        assert!(member.data == built, "{script} is the binary cargo built");
    }
    let stray: Vec<&str> = members
        .iter()
        .map(|m| m.name.as_str())
        .filter(|name| !name.starts_with(&data) && !name.starts_with(&info))
        .collect();
    assert!(stray.is_empty(), "no Python code in a bin wheel: {stray:?}");

    let (fields, _) = headers(text(member(&format!("{info}WHEEL"))));
    assert_eq!(field(&fields, "Root-Is-Purelib"), ["false"]);
    assert_eq!(field(&fields, "Tag"), [format!("py3-none-{tags}")]);

    let (fields, readme) = headers(text(member(&format!("{info}METADATA"))));
    assert_eq!(field(&fields, "Name"), ["rshiv"]);
    assert_eq!(field(&fields, "Version"), [version]);
    assert_eq!(field(&fields, "Summary"), [env!("CARGO_PKG_DESCRIPTION")]);
    let license = [
        field(&fields, "License"),
        field(&fields, "License-Expression"),
    ]
    .concat();
    assert_eq!(license, [env!("CARGO_PKG_LICENSE")]);
    assert!(field(&fields, "Description-Content-Type")[0].starts_with("text/markdown"));
    let ours = std::fs::read_to_string(repo().join("README.md")).expect("read README.md");
    assert_eq!(
        readme.trim(),
        ours.trim(),
        "the long description is README.md"
    );
}

/// A fresh venv with the wheel installed by its pip (`pip install ./rshiv-*.whl`).
fn venv_with_rshiv(t: &Test, maturin: &Path, python: &Path) -> PathBuf {
    let venv = t.path("venv");
    t.command(python)
        .args(["-m", "venv"])
        .arg(&venv)
        .run()
        .success();
    t.command(venv.join("bin/python"))
        .args(["-m", "pip", "install", "--quiet", "--no-index"])
        .arg(wheel(maturin))
        .run()
        .success();
    for binary in binaries() {
        assert!(venv.join("bin").join(&binary).is_file(), "bin/{binary}");
    }
    venv
}

/// `rshiv --version`, as a user installed it: `rshiv 0.1.0`.
#[track_caller]
fn says_its_version(t: &Test, rshiv: &Path) {
    t.command(rshiv)
        .arg("--version")
        .run()
        .success()
        .stdout_is(&format!("rshiv {}\n", env!("CARGO_PKG_VERSION")));
}

/// `pip install rshiv uv`: the installed rshiv runs the uv of its own environment, even
/// when another `uv` comes first on PATH (here one that would fail) or none is on PATH.
#[test]
fn pip_installed_rshiv_runs_the_uv_beside_it() {
    let python = python!(11);
    let uv = uv!();
    let maturin = maturin!();
    let t = Test::new();
    let venv = venv_with_rshiv(&t, &maturin, &python);
    let rshiv = venv.join("bin/rshiv");
    says_its_version(&t, &rshiv);
    std::os::unix::fs::symlink(&uv, venv.join("bin/uv")).expect("put uv in the venv");
    let decoy = t.path("bin/uv");
    std::fs::remove_file(&decoy).expect("take the test's uv off PATH");
    t.write("bin/uv", "#!/bin/sh\necho 'uv 0.0.0-decoy'\nexit 1\n");
    std::fs::set_permissions(&decoy, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("make the decoy executable");
    let real = t.command(&uv).arg("--version").run().stdout;
    let real = real
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let wheels = t.wheels(&[greet()]);
    let build = |out: &str| {
        let mut build = t.command(&rshiv);
        build
            .args(["--no-index", "--find-links"])
            .arg(&wheels)
            .arg("--build-python")
            .arg(&python)
            .args(["greet", "-c", "greet", "-o", out]);
        build
    };
    build("decoy.pyz")
        .run()
        .success()
        .stderr_line_with(&[&real]);
    build("alone.pyz")
        .without_uv()
        .run()
        .success()
        .stderr_line_with(&[&real]);
    t.pyz(&python, "alone.pyz").run().success();
}

/// The card's command with the pip-installed rshiv: `rshiv -c simple_api -o api.pyz` in
/// the example, then the pyz serves (the package index: `RSHIV_TEST_OFFLINE=1` skips).
#[test]
fn pip_installed_rshiv_builds_the_card() {
    if offline() {
        return;
    }
    let python = python!(11);
    let maturin = maturin!();
    let t = Test::new();
    let venv = venv_with_rshiv(&t, &maturin, &python);
    let example = copy_example(&t);
    t.command(venv.join("bin/rshiv"))
        .current_dir(&example)
        .arg("--build-python")
        .arg(&python)
        .args(["-c", "simple_api", "-o", "api.pyz"])
        .run()
        .success();
    serves_hello_world(&t, &python, &example.join("api.pyz"));
}

/// `uv tool install ./rshiv-*.whl` puts the command in uv's tool bin directory, and
/// `uvx --from ./rshiv-*.whl rshiv` runs it without installing (offline: the wheel has no
/// dependencies).
#[test]
fn uv_tool_install_and_uvx_run_the_wheel() {
    let python = python!(11);
    let uv = uv!();
    let maturin = maturin!();
    let wheel = wheel(&maturin);
    let t = Test::new();
    let tool = |program: &Path, args: &[&str]| {
        let mut command = t.command(program);
        command
            .env("UV_TOOL_DIR", t.path("uv-tools"))
            .env("UV_TOOL_BIN_DIR", t.path("uv-bin"))
            .args(args)
            .args(["--offline", "--python"])
            .arg(&python);
        command
    };
    tool(&uv, &["tool", "install"]).arg(wheel).run().success();
    says_its_version(&t, &t.path("uv-bin/rshiv"));
    // `uvx` is `uv tool run`; the uv package installs both.
    let uvx = uv.with_file_name("uvx");
    let mut run = if uvx.is_file() {
        tool(&uvx, &[])
    } else {
        tool(&uv, &["tool", "run"])
    };
    run.arg("--from")
        .arg(wheel)
        .args(["rshiv", "--version"])
        .run()
        .success()
        .stdout_is(&format!("rshiv {}\n", env!("CARGO_PKG_VERSION")));
}

/// `maturin sdist` holds what a build from source reads, and pip builds a wheel from it
/// through maturin's PEP 517 hooks, as for a platform no wheel fits. (The sdist's files
/// carry maturin's fixed mtimes, older than the suite's build, so cargo finds its artifacts
/// fresh: this checks the files and the hooks, not a compile, which takes minutes.) Without
/// cargo, the build stops with one message saying cargo is missing.
#[test]
fn sdist_builds_with_cargo_and_says_when_cargo_is_missing() {
    let maturin = std::fs::canonicalize(maturin!()).expect("resolve maturin");
    // The venv maturin was installed into: its python has the `maturin` build backend.
    let tools = maturin.parent().expect("maturin is in a bin directory");
    let python = tools.join("python");
    assert!(python.is_file(), "no python beside {}", maturin.display());
    let t = Test::new();
    t.command(&maturin)
        .args(["sdist", "--manifest-path"])
        .arg(repo().join("Cargo.toml"))
        .arg("--out")
        .arg(t.path("sdist"))
        .run()
        .success();
    let sdist = t.path(format!("sdist/rshiv-{}.tar.gz", env!("CARGO_PKG_VERSION")));
    let listing = t.command("tar").arg("tzf").arg(&sdist).run().stdout;
    let prefix = format!("rshiv-{}/", env!("CARGO_PKG_VERSION"));
    let packed: BTreeSet<&str> = listing
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .collect();
    let mut needed = vec!["Cargo.toml", "Cargo.lock", "pyproject.toml", "README.md"]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    for dir in ["src", "bootstrap"] {
        needed.extend(
            crate::support::tree(&repo().join(dir))
                .into_iter()
                .filter(|file| !file.contains("__pycache__"))
                .map(|file| format!("{dir}/{file}")),
        );
    }
    let missing: Vec<&String> = needed
        .iter()
        .filter(|file| !packed.contains(file.as_str()))
        .collect();
    assert!(missing.is_empty(), "the sdist lacks {missing:?}");

    let search = |dirs: &[&Path]| {
        let system = [Path::new("/usr/bin"), Path::new("/bin")];
        std::env::join_paths(dirs.iter().chain(&system)).expect("PATH entries are valid")
    };
    let pip_wheel = |path| {
        let mut command = t.command(&python);
        command
            .args([
                "-m",
                "pip",
                "wheel",
                "--no-build-isolation",
                "--no-deps",
                "--no-index",
            ])
            .arg("--wheel-dir")
            .arg(t.path("built"))
            .arg(&sdist)
            .env("PATH", path)
            .env("MATURIN_PEP517_ARGS", "--profile dev")
            .env("CARGO_NET_OFFLINE", "true");
        for (key, value) in reuse_the_suites_build("test-sdist-cargo") {
            command.env(key, value);
        }
        command
    };
    // The toolchain the suite was built with (cargo sets CARGO for the tests it runs).
    let with_cargo = match std::env::var_os("CARGO") {
        Some(cargo) => search(&[
            tools,
            Path::new(&cargo).parent().expect("cargo's directory"),
        ]),
        None => std::env::var_os("PATH").unwrap_or_default(),
    };
    pip_wheel(with_cargo).run().success();
    let built = crate::support::listing(&t.path("built"));
    assert!(
        built.len() == 1 && built[0].starts_with(&prefix[..prefix.len() - 1]),
        "{built:?}"
    );

    // maturin's own default without cargo is to fetch a Rust toolchain with rustup;
    // MATURIN_NO_INSTALL_RUST=1 (the README says so) asks for the error instead.
    pip_wheel(search(&[tools]))
        .env("MATURIN_NO_INSTALL_RUST", "1")
        .run()
        .failure()
        .stderr_line_with(&["Cargo", "not installed"]);
}
