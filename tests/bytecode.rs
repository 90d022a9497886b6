//! Bytecode of the extraction (bootstrap/bytecode.py): warm starts import .pyc whatever
//! PYTHONDONTWRITEBYTECODE says, from the extraction's `__pycache__` or, for an extraction
//! this user cannot write, from a private mirror; never stale or foreign bytecode, nothing
//! written into the user's own directories. Proof is the loader's own `python -v` lines
//! (`# code object from '<pyc>'`), never timing.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::support::{pythons, tree, Cmd, Output, Test, Wheel};
use crate::{every_cpython, python, require};

/// Package `bc`: `bc.sub` imported at start, `bc.lazy` and the user's `mine` on request.
fn bc() -> Wheel {
    Wheel::new("bc", "1.0")
        .file(
            "bc/__init__.py",
            r#"import sys

from bc import sub


def main():
    if "lazy" in sys.argv[1:]:
        from bc import lazy
    if "mine" in sys.argv[1:]:
        import mine
    print("bc", sub.VALUE, sub.__cached__)
"#,
        )
        .file("bc/sub.py", "VALUE = 1\n")
        .file("bc/lazy.py", "LAZY = 1\n")
        .console_script("bc", "bc:main")
}

/// A test with `bc.pyz` built.
fn with_bc() -> Test {
    let t = Test::new();
    let wheels = t.wheels(&[bc()]);
    t.build(&["bc", "-c", "bc", "-o", "bc.pyz"], &wheels)
        .success();
    t
}

/// `<dir>/__pycache__/<stem>.cpython-3<minor>.pyc` of `<site-packages>/<module path>`.
fn pyc(extraction: &Path, module: &str, minor: u32) -> PathBuf {
    let source = extraction.join("site-packages").join(module);
    let stem = source.file_stem().unwrap().to_string_lossy().into_owned();
    source
        .parent()
        .unwrap()
        .join("__pycache__")
        .join(format!("{stem}.cpython-3{minor}.pyc"))
}

/// The paths of a `python -v` run's `# <what> '<path>'` lines: `code object from` (the
/// .pyc files it imported) or `wrote`.
fn verbose_paths(out: &Output, what: &str) -> BTreeSet<PathBuf> {
    let prefix = format!("# {what} '");
    out.stderr
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix)?.strip_suffix('\''))
        .map(PathBuf::from)
        .collect()
}

fn code_from(out: &Output) -> BTreeSet<PathBuf> {
    verbose_paths(out, "code object from")
}

fn wrote(out: &Output) -> BTreeSet<PathBuf> {
    verbose_paths(out, "wrote")
}

#[track_caller]
fn assert_read(out: &Output, pycs: &[&Path]) {
    let read = code_from(out);
    for pyc in pycs {
        assert!(
            read.contains(*pyc),
            "{} not read; read from the extraction: {:?}",
            pyc.display(),
            read.iter()
                .filter(|p| p.to_string_lossy().contains("site-packages"))
                .collect::<Vec<_>>()
        );
    }
}

/// `python [-v] PYZ ARGS`, under `umask 077` (what we write is 0644/0755 whatever it is).
fn run_bc(t: &Test, python: &Path, verbose: bool, args: &[&str]) -> Cmd {
    let mut cmd = t.command("sh");
    cmd.args(["-c", "umask 077; exec \"$@\"", "sh"]).arg(python);
    if verbose {
        cmd.arg("-v");
    }
    cmd.arg(t.path("bc.pyz")).args(args);
    cmd
}

#[track_caller]
fn assert_silent(out: &Output) {
    assert!(out.stderr.is_empty(), "stderr:\n{}", out.stderr);
}

#[track_caller]
fn assert_mode(path: &Path, mode: u32) {
    let found = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(found, mode, "mode of {}", path.display());
}

/// With PYTHONDONTWRITEBYTECODE=1 (the harness sets it) and without it, the first run
/// writes the imported modules' bytecode into the extraction, 0644 in 0755 `__pycache__`
/// dirs under umask 077, and the second run imports from it.
fn second_run_reads_bytecode(minor: u32) {
    let python = python!(minor);
    let t = with_bc();
    let name = t.extraction("bc.pyz").file_name().unwrap().to_owned();
    for (root, dont_write) in [("cache", true), ("cache-writing", false)] {
        let extraction = t.path(root).join(&name);
        let init = pyc(&extraction, "bc/__init__.py", minor);
        let sub = pyc(&extraction, "bc/sub.py", minor);
        let command = |verbose| {
            let mut cmd = run_bc(&t, &python, verbose, &[]);
            cmd.env("RSHIV_ROOT", t.path(root));
            if !dont_write {
                cmd.env_remove("PYTHONDONTWRITEBYTECODE");
            }
            cmd
        };
        command(false)
            .run()
            .success()
            .stdout_is(&format!("bc 1 {}\n", sub.display()));
        assert_mode(&sub, 0o644);
        assert_mode(sub.parent().unwrap(), 0o755);
        let out = command(true).run();
        out.success().stderr_lacks("rshiv: warning");
        assert_read(&out, &[&init, &sub]);
        assert!(wrote(&out).is_empty(), "{:?}", wrote(&out));
        // Only what was imported is compiled: the first run costs no more than a venv's.
        assert!(!pyc(&extraction, "bc/lazy.py", minor).exists());
    }
}

every_cpython!(second_run_reads_bytecode);

/// Each run of `python -c COUNT bc.pyz`: how often each of the pyz's members was compiled
/// (the `compile` audit event, PEP 578), not timed.
fn compiled(t: &Test, python: &Path) -> BTreeMap<String, u64> {
    let pyz = t.path("bc.pyz").display().to_string();
    let count = r#"import json, runpy, sys
pyz = sys.argv[1] + "/"
counts = {}
def hook(event, args):
    if event == "compile" and isinstance(args[1], str) and args[1].startswith(pyz):
        member = args[1][len(pyz):]
        counts[member] = counts.get(member, 0) + 1
sys.addaudithook(hook)
del sys.argv[0]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    sys.stderr.write("compiled %s\n" % json.dumps(counts, sort_keys=True))
"#;
    let out = t.command(python).args(["-c", count, &pyz]).run();
    out.success().stdout_contains("bc 1 ");
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("compiled "))
        .unwrap();
    serde_json::from_str(&line["compiled ".len()..]).unwrap()
}

/// `bc.pyz` built with `--build-python`.
fn bc_built_by(python: &Path) -> Test {
    let t = Test::new();
    let wheels = t.wheels(&[bc()]);
    let python = python.display().to_string();
    t.build(
        &["bc", "-c", "bc", "-o", "bc.pyz", "--build-python", &python],
        &wheels,
    )
    .success();
    t
}

/// The first runs' modules (`_rshiv/runtime.py`, `extract.py`, `unpack.py`) are compiled
/// once each, from the pyz.
#[track_caller]
fn assert_first_run_modules_once(first: &BTreeMap<String, u64>) {
    for module in ["_rshiv/runtime.py", "_rshiv/extract.py", "_rshiv/unpack.py"] {
        assert_eq!(first.get(module), Some(&1), "{module}: {first:?}");
    }
}

/// Run by the interpreter that built it, a pyz compiles nothing at a warm start:
/// `__main__.pyc` and `_rshiv/stub.pyc` are that interpreter's bytecode. A first run
/// compiles only its own modules (and the empty `_rshiv/__init__.py`), once each.
fn the_bootstrap_is_compiled_once(minor: u32) {
    let python = python!(minor);
    let t = bc_built_by(&python);
    let first = compiled(&t, &python);
    assert_first_run_modules_once(&first);
    for member in ["__main__.py", "_rshiv/stub.py"] {
        assert!(!first.contains_key(member), "{member}: {first:?}");
    }
    assert_eq!(compiled(&t, &python), BTreeMap::new());
}

every_cpython!(the_bootstrap_is_compiled_once);

/// Another interpreter ignores the build interpreter's bytecode (its magic number differs)
/// and compiles the sources: `__main__.py` twice (runpy, and zipimport's get_filename), so
/// it is a few lines, and the stub once.
#[test]
fn another_interpreter_compiles_the_stub_once() {
    let (builder, runner) = (python!(11), python!(12));
    let t = bc_built_by(&builder);
    let first = compiled(&t, &runner);
    assert_first_run_modules_once(&first);
    assert_eq!(first.get("__main__.py"), Some(&2), "{first:?}");
    assert_eq!(first.get("_rshiv/stub.py"), Some(&1), "{first:?}");
    let warm = BTreeMap::from([
        ("__main__.py".to_string(), 2),
        ("_rshiv/stub.py".to_string(), 1),
    ]);
    assert_eq!(compiled(&t, &runner), warm);
}

/// One extraction run by two CPythons: each keeps its own bytecode (PEP 3147 tags), foreign
/// bytecode under a version's name is not used, and an edited source is never run stale.
#[test]
fn another_interpreter_does_not_reuse_bytecode() {
    let found = pythons();
    let ((old, old_python), (new, new_python)) = match (found.first(), found.last()) {
        (Some(first), Some(last)) if first.0 != last.0 => (first.clone(), last.clone()),
        _ => {
            eprintln!(
                "skipped: two CPython versions needed, found {}",
                found.len()
            );
            return;
        }
    };
    let t = with_bc();
    let extraction = t.extraction("bc.pyz");
    let (old_sub, new_sub) = (
        pyc(&extraction, "bc/sub.py", old),
        pyc(&extraction, "bc/sub.py", new),
    );
    run_bc(&t, &old_python, false, &[]).run().success();
    run_bc(&t, &new_python, false, &[]).run().success();
    assert!(
        old_sub.is_file() && new_sub.is_file(),
        "{:?}",
        tree(&extraction)
    );
    assert_ne!(
        std::fs::read(&old_sub).unwrap(),
        std::fs::read(&new_sub).unwrap()
    );
    let out = run_bc(&t, &new_python, true, &[]).run();
    out.success();
    assert_read(&out, &[&new_sub]);

    // 3.`old`'s bytecode under 3.`new`'s name: its magic is not this interpreter's.
    std::fs::copy(&old_sub, &new_sub).unwrap();
    let out = run_bc(&t, &new_python, true, &[]).run();
    out.success()
        .stdout_is(&format!("bc 1 {}\n", new_sub.display()));
    assert!(!code_from(&out).contains(&new_sub), "used foreign bytecode");
    assert!(wrote(&out).contains(&new_sub), "{}", out.stderr);

    // An edited source (new size, new mtime) makes every cached .pyc of it stale.
    let source = extraction.join("site-packages/bc/sub.py");
    std::fs::write(&source, "VALUE = 22\n").unwrap();
    for python in [&old_python, &new_python] {
        run_bc(&t, python, false, &[])
            .run()
            .success()
            .stdout_contains("bc 22 ");
    }
}

/// The user's own source tree on PYTHONPATH keeps Python's rules: with
/// PYTHONDONTWRITEBYTECODE nothing is written there (nor into PYTHONPYCACHEPREFIX), and
/// without it, bytecode goes where Python puts it. The extraction's goes to the extraction.
#[test]
fn the_users_directories_keep_pythons_rules() {
    let python = python!(11);
    let t = with_bc();
    let mine = t.mkdir("mine");
    t.write("mine/mine.py", "MINE = 1\n");
    let prefix = t.path("prefix");
    let extraction = t.extraction("bc.pyz");
    for _ in 0..2 {
        run_bc(&t, &python, false, &["mine"])
            .env("PYTHONPATH", &mine)
            .env("PYTHONPYCACHEPREFIX", &prefix)
            .run()
            .success();
    }
    assert_eq!(tree(Path::new(&mine)), ["mine.py"]);
    assert!(!prefix.exists(), "{:?}", tree(&prefix));
    assert!(pyc(&extraction, "bc/sub.py", 11).is_file());

    // Without the variable: PYTHONPYCACHEPREFIX gets the user's module, not ours.
    run_bc(&t, &python, false, &["mine"])
        .env("PYTHONPATH", &mine)
        .env("PYTHONPYCACHEPREFIX", &prefix)
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .run()
        .success();
    let cached = tree(&prefix);
    let ours = extraction
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        cached.iter().any(|f| f.ends_with("mine.cpython-311.pyc")),
        "{cached:?}"
    );
    assert!(!cached.iter().any(|f| f.contains(&ours)), "{cached:?}");
    // And without either, the user's tree gets its `__pycache__` as always.
    run_bc(&t, &python, false, &["mine"])
        .env("PYTHONPATH", &mine)
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .run()
        .success();
    assert!(t.path("mine/__pycache__/mine.cpython-311.pyc").is_file());
}

/// Another user, for the tests of a root-made extraction: `setpriv` to nobody, with a
/// CPython that user may run. None (the test skips) unless we are root with setpriv.
fn other_user(t: &Test) -> Option<PathBuf> {
    let root = std::fs::metadata("/proc/self").ok()?.uid() == 0;
    if !root || !Path::new("/usr/bin/setpriv").exists() {
        return None;
    }
    // The test's directory (0700 from tempfile) must be readable by the other user.
    std::fs::set_permissions(t.dir(), std::fs::Permissions::from_mode(0o755)).ok()?;
    let candidates = pythons().iter().map(|(_, path)| path.clone());
    candidates
        .chain([PathBuf::from("/usr/bin/python3")])
        .find(|python| as_nobody(t, python).args(["-c", "pass"]).run().code == Some(0))
}

/// `setpriv --reuid nobody ... PYTHON`, with a home and a TMPDIR of nobody's own.
fn as_nobody(t: &Test, python: &Path) -> Cmd {
    let mut cmd = t.command("/usr/bin/setpriv");
    cmd.args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"])
        .arg(python)
        .env("HOME", t.path("nobody-home"))
        .env("TMPDIR", t.path("nobody-tmp"));
    cmd
}

/// Give `dir` (created) to nobody.
fn nobodys(t: &Test, dir: &str) {
    let path = t.mkdir(dir);
    let status = std::process::Command::new("chown")
        .args(["nobody:nogroup", &path])
        .status()
        .expect("run chown");
    assert!(status.success(), "chown {path}");
}

const NEEDS_NOBODY: &str = "needs root, setpriv and a CPython nobody can run";

/// `bc.pyz` built and run by root, and a CPython another user may run it with.
fn warmed_by_root() -> Option<(Test, PathBuf)> {
    let t = with_bc();
    let python = other_user(&t)?;
    t.command(&python).arg(t.path("bc.pyz")).run().success();
    Some((t, python))
}

/// An extraction made and warmed by root, run by a user who cannot write it: that user
/// imports root's bytecode, and compiles what root never imported into a private mirror
/// (0644 files, 0755 dirs) that its next run reads; the extraction is left as it was.
#[test]
fn a_read_only_extraction_is_mirrored_for_another_user() {
    let (t, python) = require!(warmed_by_root(), "{NEEDS_NOBODY}");
    let minor = python_minor(&python);
    nobodys(&t, "nobody-home");
    nobodys(&t, "nobody-tmp");
    let extraction = t.extraction("bc.pyz");
    let before = tree(&extraction);
    let run = |verbose: bool| {
        let mut cmd = as_nobody(&t, &python);
        if verbose {
            cmd.arg("-v");
        }
        cmd.arg(t.path("bc.pyz")).arg("lazy").run()
    };
    assert_silent(run(false).success());
    let name = extraction.file_name().unwrap();
    let mirror = t.path("nobody-tmp/rshiv-65534/.bytecode").join(name);
    let lazy = pyc(&mirror, "bc/lazy.py", minor);
    assert_mode(&lazy, 0o644);
    assert_mode(lazy.parent().unwrap(), 0o755);
    let out = run(true);
    out.success();
    assert_read(
        &out,
        &[
            &pyc(&extraction, "bc/__init__.py", minor),
            &pyc(&extraction, "bc/sub.py", minor),
            &lazy,
        ],
    );
    assert!(wrote(&out).is_empty(), "{:?}", wrote(&out));
    assert_eq!(tree(&extraction), before, "the extraction changed");
}

/// Nothing writable anywhere (root's extraction, a TMPDIR and HOME nobody cannot write):
/// the app still runs, every time, without a word on stderr.
#[test]
fn nothing_writable_still_runs_silently() {
    let (t, python) = require!(warmed_by_root(), "{NEEDS_NOBODY}");
    t.mkdir("nobody-tmp");
    t.mkdir("nobody-home");
    for _ in 0..2 {
        let out = as_nobody(&t, &python)
            .arg(t.path("bc.pyz"))
            .arg("lazy")
            .run();
        assert_silent(out.success().stdout_contains("bc 1 "));
    }
    let theirs: Vec<String> = walk_owned_by(t.dir(), 65534);
    assert!(theirs.is_empty(), "nobody wrote {theirs:?}");
}

/// Paths under `dir` owned by `uid`.
fn walk_owned_by(dir: &Path, uid: u32) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|name| std::fs::symlink_metadata(dir.join(name)).is_ok_and(|m| m.uid() == uid))
        .collect()
}

/// The minor version of a CPython 3 executable.
fn python_minor(python: &Path) -> u32 {
    let out = std::process::Command::new(python)
        .args(["-c", "import sys; print(sys.version_info[1])"])
        .output()
        .expect("run python");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a minor version")
}
