//! Running one multi-target pyz (issue 14) on a mixed fleet: every CPython 3.8-3.13 picks
//! its own target, extracts only that target's files and loads its compiled extension; an
//! interpreter the file was not built for gets one line; targets share a cache root.
//!
//! The extension is real and hermetic: a small C module compiled here against each
//! CPython's headers, shipped in generated `cp3X-cp3X-manylinux2014_x86_64` wheels. The
//! index-backed variant builds `examples/fleet` (markupsafe, pyyaml, msgpack).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::network::offline;
use crate::support::interpreters::{on_ci, MINORS};
use crate::support::{listing, python, tree, Output, Pyz, Test, Wheel};
use crate::{python, require_on_ci};

const PLATFORM: &str = "manylinux2014_x86_64";

/// The module `_speed`, which says which CPython it was compiled for.
const SPEED_C: &str = r#"#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *built_for(PyObject *self, PyObject *args) {
    return PyUnicode_FromString(BUILT_FOR);
}

static PyMethodDef methods[] = {{"built_for", built_for, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speed", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speed(void) { return PyModule_Create(&module); }
"#;

/// The package around it: prints the running version, its own version and where `_speed`
/// came from (the extension file, not a fallback: there is none).
const SPEED_PY: &str = r#"import sys

from speed import _speed

VERSION = "@VERSION@"


def main():
    print("%d.%d" % sys.version_info[:2], VERSION, _speed.built_for(), _speed.__file__)
"#;

/// `_speed` compiled for `python`: (its file name, e.g. `_speed.cpython-38-x86_64-linux-gnu.so`,
/// its bytes); None without a working C compiler.
fn compile_speed(t: &Test, python: &Path, minor: u32) -> Option<(String, Vec<u8>)> {
    let query = "import sysconfig; print(sysconfig.get_paths()['include']); \
                 print(sysconfig.get_config_var('EXT_SUFFIX'))";
    let out = Command::new(python).args(["-c", query]).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut lines = text.lines();
    let (include, suffix) = (lines.next()?, lines.next()?);
    let source = t.write("speed.c", SPEED_C);
    let name = format!("_speed{suffix}");
    let binary = t.path(format!("build-3{minor}/{name}"));
    std::fs::create_dir_all(binary.parent()?).ok()?;
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O"])
        .arg(format!("-I{include}"))
        .arg(format!("-DBUILT_FOR=\"cp3{minor}\""))
        .arg(&source)
        .arg("-o")
        .arg(&binary)
        .status()
        .ok()?;
    status
        .success()
        .then(|| (name, std::fs::read(&binary).unwrap()))
}

/// The CPythons of [`MINORS`] this machine has; on CI a missing one fails the test.
fn fleet() -> Vec<(u32, PathBuf)> {
    MINORS
        .iter()
        .filter_map(|&minor| match python(minor) {
            Some(path) => Some((minor, path)),
            None => {
                assert!(!on_ci(), "CPython 3.{minor} not found (CI=true: a failure)");
                eprintln!("skipped for 3.{minor}: CPython 3.{minor} not found");
                None
            }
        })
        .collect()
}

/// Wheels of `speed` for each of `fleet`: 1.0 only for 3.8 and 2.0 for the others (as
/// markupsafe 3 left 3.8 behind), each with `_speed` compiled for it, and a pure `common`
/// that every target shares. None without a C compiler.
fn speed_wheels(t: &Test, fleet: &[(u32, PathBuf)]) -> Option<PathBuf> {
    let mut wheels = vec![Wheel::new("common", "1.0").file("common.py", "SHARED = 1\n")];
    for (minor, python) in fleet {
        let (name, binary) = compile_speed(t, python, *minor)?;
        let version = if *minor == 8 { "1.0" } else { "2.0" };
        wheels.push(
            Wheel::new("speed", version)
                .tag(&format!("cp3{minor}-cp3{minor}-{PLATFORM}"))
                .dependency("common")
                .file("speed/__init__.py", SPEED_PY.replace("@VERSION@", version))
                .file(&format!("speed/{name}"), binary),
        );
    }
    Some(t.wheels(&wheels))
}

/// `rshiv ARGS... --python-version 3.X ... --platform PLATFORM -o OUT`, hermetic.
fn build_fleet(t: &Test, wheels: &Path, args: &[&str], minors: &[u32], out: &str) -> Output {
    build_for(t, wheels, args, minors, &[PLATFORM], out)
}

/// [`build_fleet`] for these platforms.
fn build_for(
    t: &Test,
    wheels: &Path,
    args: &[&str],
    minors: &[u32],
    platforms: &[&str],
    out: &str,
) -> Output {
    let mut all: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    for minor in minors {
        all.extend(["--python-version".into(), format!("3.{minor}")]);
    }
    for platform in platforms {
        all.extend(["--platform".into(), platform.to_string()]);
    }
    all.extend(["-o".into(), out.into()]);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    t.build(&all, wheels)
}

/// The app most tests build: `speed`, run by its entry point.
const SPEED: &[&str] = &["speed", "-e", "speed:main"];

/// The test's fleet and its wheels, or skip (fail on CI) without a C compiler or x86_64.
macro_rules! speed_fleet {
    ($t:expr) => {{
        require_on_ci!(
            (std::env::consts::ARCH == "x86_64").then_some(()),
            "the fixture wheels are for x86_64"
        );
        let fleet = fleet();
        let wheels = require_on_ci!(
            speed_wheels($t, &fleet),
            "no working C compiler (cc) to build the fixture extension"
        );
        (fleet, wheels)
    }};
}

/// CPython 3.8 and 3.13 of `fleet`, when it has both.
fn oldest_and_newest(fleet: &[(u32, PathBuf)]) -> Option<Vec<(u32, PathBuf)>> {
    let pair: Vec<_> = fleet
        .iter()
        .filter(|(m, _)| *m == 8 || *m == 13)
        .cloned()
        .collect();
    (pair.len() == 2).then_some(pair)
}

/// `environment.json`'s targets: (python "3.X", build id).
fn targets(t: &Test, pyz: &str) -> Vec<(String, String)> {
    let environment = Pyz::open(t.path(pyz)).environment();
    environment["targets"]
        .as_array()
        .expect("a multi-target pyz lists its targets")
        .iter()
        .map(|target| {
            let field = |name: &str| target[name].as_str().expect("a string").to_owned();
            (field("python"), field("build_id"))
        })
        .collect()
}

/// A run refused as built for other interpreters: exit 1, nothing on stdout, exactly
/// `expected` on stderr, and nothing unpacked under the cache root.
#[track_caller]
fn assert_refused(t: &Test, out: Output, expected: &str) {
    out.code(1).failure().stdout_is("");
    assert_eq!(out.stderr, expected);
    assert_eq!(
        listing(&t.root()),
        Vec::<String>::new(),
        "nothing is unpacked"
    );
}

/// Where target `python` ("3.8") of `pyz` extracts: `<root>/<stem>_<its build id>`.
fn extraction(t: &Test, pyz: &str, python: &str) -> PathBuf {
    let (_, build_id) = targets(t, pyz)
        .into_iter()
        .find(|(version, _)| version == python)
        .unwrap_or_else(|| panic!("{pyz} has no target {python}"));
    let stem = Path::new(pyz).file_stem().unwrap().to_string_lossy();
    t.root().join(format!("{stem}_{build_id}"))
}

/// One file built for all six versions runs on each CPython found: the right version of
/// `speed` with the extension compiled for that interpreter, from an extraction of that
/// target alone (its build id, its files, no other target's variants, no `_rshiv/`).
#[test]
fn one_file_runs_on_every_cpython() {
    let t = Test::new();
    let (fleet, wheels) = speed_fleet!(&t);
    let minors: Vec<u32> = fleet.iter().map(|(minor, _)| *minor).collect();
    build_fleet(&t, &wheels, SPEED, &minors, "fleet.pyz").success();
    for (minor, python) in &fleet {
        let out = t.pyz(python, "fleet.pyz").run();
        let version = if *minor == 8 { "1.0" } else { "2.0" };
        let extraction = extraction(&t, "fleet.pyz", &format!("3.{minor}"));
        let so = extraction.join("site-packages/speed");
        let words: Vec<&str> = out.success().stdout.split_whitespace().collect();
        assert_eq!(
            words[..3],
            [&format!("3.{minor}"), version, &format!("cp3{minor}")]
        );
        assert!(
            Path::new(words[3]).starts_with(&so) && words[3].contains(&format!("-3{minor}-")),
            "{} is not this target's extension in {}",
            words[3],
            so.display()
        );
        let files = tree(&extraction.join("site-packages"));
        let extensions: Vec<&String> = files.iter().filter(|f| f.ends_with(".so")).collect();
        assert_eq!(extensions.len(), 1, "{files:?}");
        assert!(files.iter().all(|f| !f.starts_with("_rshiv")), "{files:?}");
        assert!(files.contains(&"common.py".to_string()), "{files:?}");
        let dist_info = format!("speed-{version}.dist-info/METADATA");
        assert!(files.contains(&dist_info), "{files:?}");
    }
}

/// An interpreter the file was not built for: one line naming the targets and this
/// interpreter, exit 1, no traceback, nothing unpacked.
#[test]
fn an_interpreter_it_was_not_built_for_gets_one_line() {
    let t = Test::new();
    let (fleet, wheels) = speed_fleet!(&t);
    let minors: Vec<u32> = fleet
        .iter()
        .map(|(m, _)| *m)
        .filter(|m| *m == 11 || *m == 12)
        .collect();
    require_on_ci!(
        (minors.len() == 2).then_some(()),
        "CPython 3.11 and 3.12 are needed"
    );
    build_fleet(&t, &wheels, SPEED, &minors, "app.pyz").success();
    for (minor, python) in fleet.iter().filter(|(m, _)| !minors.contains(m)) {
        let expected = format!(
            "rshiv: error: app was built for CPython 3.11, 3.12 on {PLATFORM}; \
             this is CPython 3.{minor} on linux x86_64\n"
        );
        assert_refused(&t, t.pyz(python, "app.pyz").run(), &expected);
    }
}

/// 3.8 and 3.13 run the same file in one cache root: two extractions, each with its own
/// bytecode, and the second run of each imports the payload's modules from it.
#[test]
fn two_interpreters_share_a_cache_root() {
    let t = Test::new();
    let (fleet, wheels) = speed_fleet!(&t);
    let pair = require_on_ci!(oldest_and_newest(&fleet), "CPython 3.8 and 3.13 are needed");
    build_fleet(&t, &wheels, SPEED, &[8, 13], "fleet.pyz").success();
    for (minor, python) in pair.iter().chain(&pair) {
        t.pyz(python, "fleet.pyz")
            .run()
            .success()
            .stdout_contains(&format!("cp3{minor}"));
    }
    let stems: Vec<String> = listing(&t.root())
        .into_iter()
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert_eq!(stems.len(), 2, "{stems:?}");
    for (minor, python) in &pair {
        let extraction = extraction(&t, "fleet.pyz", &format!("3.{minor}"));
        let pyc = extraction.join(format!(
            "site-packages/speed/__pycache__/__init__.cpython-3{minor}.pyc"
        ));
        let out = t.pyz(python, "fleet.pyz").env("PYTHONVERBOSE", "1").run();
        let read = format!("# code object from '{}'", pyc.display());
        assert!(
            out.success().stderr.lines().any(|line| line == read),
            "{}",
            out.stderr
        );
    }
}

/// `examples/fleet` from the package index for 3.8-3.13: on each CPython its C extensions
/// (markupsafe._speedups, yaml._yaml with libyaml, msgpack._cmsgpack) load, and markupsafe
/// is 2.1 on 3.8, 3.x on the others. RSHIV_TEST_OFFLINE=1 skips it.
#[test]
fn the_fleet_example_runs_on_every_cpython() {
    if offline() {
        return;
    }
    let _ = python!(11);
    let t = Test::new();
    let project = crate::network::copy_example_named(&t, "fleet");
    let mut build = t.rshiv();
    build.installer(crate::support::Installer::preferred());
    for minor in MINORS {
        build.args(["--python-version", &format!("3.{minor}")]);
    }
    build
        .args(["--platform", PLATFORM, "-c", "fleet", "-o"])
        .arg(t.path("fleet.pyz"))
        .arg(&project)
        .run()
        .success();
    for (minor, python) in fleet() {
        let out = t.pyz(&python, "fleet.pyz").arg("--json").run();
        let report: serde_json::Value =
            serde_json::from_str(out.success().stdout.trim()).expect("fleet --json prints JSON");
        assert!(report["python"]
            .as_str()
            .unwrap()
            .starts_with(&format!("3.{minor}.")));
        let modules = report["modules"].as_array().expect("a list of modules");
        for module in modules {
            let file = module["file"].as_str().unwrap();
            assert!(file.contains(&format!("cpython-3{minor}-")), "{report}");
        }
        let markupsafe = modules[0]["version"].as_str().unwrap();
        let major = if minor == 8 { "2.1." } else { "3." };
        assert!(
            markupsafe.starts_with(major),
            "markupsafe {markupsafe} on 3.{minor}"
        );
    }
}

/// A native console script (`-c NAME` where `bin/NAME` is compiled) in a multi-target pyz:
/// each CPython execs it from its own target's extraction, with its arguments and exit code.
#[test]
fn a_native_console_script_runs_from_every_target() {
    let t = Test::new();
    let (fleet, wheels) = speed_fleet!(&t);
    let source = t.write(
        "tool.c",
        "#include <stdio.h>\nint main(int argc, char **argv) {\n    printf(\"native %s\\n\", argc > 1 ? argv[1] : \"\");\n    return 3;\n}\n",
    );
    let status = Command::new("cc")
        .arg("-o")
        .arg(t.path("tool"))
        .arg(&source)
        .status();
    require_on_ci!(
        status.ok().filter(|s| s.success()),
        "no working C compiler (cc)"
    );
    let tool = Wheel::new("tool", "1.0").script("native-tool", t.read("tool"));
    tool.write(&wheels);
    let minors: Vec<u32> = fleet.iter().map(|(minor, _)| *minor).collect();
    let app = ["speed", "tool", "-c", "native-tool"];
    build_fleet(&t, &wheels, &app, &minors, "tool.pyz").success();
    for (minor, python) in &fleet {
        t.pyz(python, "tool.pyz")
            .arg("hello")
            .run()
            .code(3)
            .stdout_is("native hello\n");
        let extraction = extraction(&t, "tool.pyz", &format!("3.{minor}"));
        assert!(extraction.join("site-packages/bin/native-tool").is_file());
    }
}

/// `--prune-old-builds` removes older builds of the app, not the extractions of its other
/// targets: 3.8 and 3.13 taking turns keep both (no re-extraction at every switch).
#[test]
fn pruning_spares_the_other_targets() {
    let t = Test::new();
    let (fleet, wheels) = speed_fleet!(&t);
    let pair = require_on_ci!(oldest_and_newest(&fleet), "CPython 3.8 and 3.13 are needed");
    let app = ["speed", "-e", "speed:main", "--prune-old-builds"];
    build_fleet(&t, &wheels, &app, &[8, 13], "fleet.pyz").success();
    for (_, python) in &pair {
        t.pyz(python, "fleet.pyz").run().success();
    }
    for (minor, _) in &pair {
        let extraction = extraction(&t, "fleet.pyz", &format!("3.{minor}"));
        assert!(
            extraction.join(".rshiv-ready").is_file(),
            "{}",
            extraction.display()
        );
    }
}

/// A `speed` wheel for CPython 3.`minor` on `platform` that this machine cannot load.
fn foreign_speed(version: &str, minor: u32, platform: &str) -> Wheel {
    Wheel::new("speed", version)
        .tag(&format!("cp3{minor}-cp3{minor}-{platform}"))
        .file("speed/__init__.py", SPEED_PY.replace("@VERSION@", version))
        .file(
            &format!("speed/_speed.cpython-3{minor}-aarch64-linux-gnu.so"),
            "not for x86_64",
        )
}

/// The running glibc's `major.minor`, as `python` reports it.
fn glibc(python: &Path) -> String {
    let query = "import os; print(os.confstr('CS_GNU_LIBC_VERSION').split()[1])";
    let out = Command::new(python).args(["-c", query]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// One version on three platforms (x86_64 with glibc 2.17 and 2.28, aarch64): 3.12 picks
/// the x86_64 target asking the newest glibc it has (2.28 here, if this glibc is that
/// new), and 3.11 is told every target, grouped per platform.
#[test]
fn several_platforms_pick_what_this_machine_loads() {
    let t = Test::new();
    let (fleet, wheels) = speed_fleet!(&t);
    let py312 = python!(12);
    let (name, binary) = compile_speed(&t, &py312, 12).expect("compiled for the fleet already");
    Wheel::new("speed", "2.1")
        .tag("cp312-cp312-manylinux_2_28_x86_64")
        .dependency("common")
        .file("speed/__init__.py", SPEED_PY.replace("@VERSION@", "2.1"))
        .file(&format!("speed/{name}"), binary)
        .write(&wheels);
    foreign_speed("2.0", 12, "manylinux2014_aarch64").write(&wheels);
    let platforms = [PLATFORM, "manylinux_2_28_x86_64", "manylinux2014_aarch64"];
    build_for(&t, &wheels, SPEED, &[12], &platforms, "app.pyz").success();
    let glibc = glibc(&py312);
    let (major, minor) = glibc.split_once('.').unwrap();
    let new_enough = (major.parse::<u32>().unwrap(), minor.parse::<u32>().unwrap()) >= (2, 28);
    let version = if new_enough { "2.1" } else { "2.0" };
    let out = t.pyz(&py312, "app.pyz").run();
    let words: Vec<&str> = out.success().stdout.split_whitespace().collect();
    assert_eq!(words[..3], ["3.12", version, "cp312"], "glibc {glibc}");
    if let Some((_, py311)) = fleet.iter().find(|(m, _)| *m == 11) {
        let out = t.pyz(py311, "app.pyz").run();
        out.code(1).failure();
        let expected = format!(
            "rshiv: error: app was built for CPython 3.12 on {PLATFORM}, CPython 3.12 on \
             manylinux_2_28_x86_64 and CPython 3.12 on manylinux2014_aarch64; this is \
             CPython 3.11 on linux x86_64\n"
        );
        assert_eq!(out.stderr, expected);
    }
}

/// Built for this version but another machine: the line names this interpreter's C library
/// too (the platform is what does not fit), and nothing is unpacked.
#[test]
fn another_platform_names_the_c_library() {
    let t = Test::new();
    let (_, wheels) = speed_fleet!(&t);
    let py312 = python!(12);
    for minor in [12, 13] {
        foreign_speed("2.0", minor, "manylinux2014_aarch64").write(&wheels);
    }
    build_for(
        &t,
        &wheels,
        SPEED,
        &[12, 13],
        &["manylinux2014_aarch64"],
        "app.pyz",
    )
    .success();
    let expected = format!(
        "rshiv: error: app was built for CPython 3.12, 3.13 on manylinux2014_aarch64; this is \
         CPython 3.12 on linux x86_64 with glibc {}\n",
        glibc(&py312)
    );
    assert_refused(&t, t.pyz(&py312, "app.pyz").run(), &expected);
}

/// `--no-modify` in a multi-target pyz: a target whose `speed/__init__.py` is a variant
/// (3.13's differs from 3.8's, stored first) checks it against its own build hash: a touched
/// but unchanged file runs, an edited one is refused.
#[test]
fn no_modify_checks_each_target_against_its_own_files() {
    let t = Test::new();
    let (fleet, wheels) = speed_fleet!(&t);
    let pair = require_on_ci!(oldest_and_newest(&fleet), "CPython 3.8 and 3.13 are needed");
    let app = ["speed", "-e", "speed:main", "--no-modify"];
    build_fleet(&t, &wheels, &app, &[8, 13], "fleet.pyz").success();
    let (_, py313) = &pair[1];
    t.pyz(py313, "fleet.pyz").run().success();
    let source = extraction(&t, "fleet.pyz", "3.13").join("site-packages/speed/__init__.py");
    let text = std::fs::read(&source).unwrap();
    std::fs::write(&source, &text).unwrap();
    t.pyz(py313, "fleet.pyz")
        .run()
        .success()
        .stdout_contains(" 2.0 cp313 ");
    std::fs::write(&source, [&text[..], b"# edited\n"].concat()).unwrap();
    t.pyz(py313, "fleet.pyz")
        .run()
        .code(1)
        .failure()
        .stderr_line_with(&["was modified after unpacking", "speed/__init__.py"]);
}
