//! Running a pyz: dispatch to its entry point, `sys.path`, `.pth` files, and the extraction
//! cache, under every CPython from 3.8 to 3.13 that this machine has.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::support::{greet, listing, tree, Pyz, Test, Wheel};
use crate::{every_cpython, python};

/// Build `greet` with `-e ENTRY` into `OUT`.
fn build_greet(t: &Test, entry: &str, out: &str) {
    let wheels = t.wheels(&[greet()]);
    t.build(&["greet", "-e", entry, "-o", out], &wheels)
        .success();
}

/// `MOD:ATTR` exits with what ATTR returns (None → 0, int → that code, str → printed, 1);
/// `MOD` alone runs as `python -m MOD`; arguments reach `sys.argv`.
fn dispatch(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    for (entry, out) in [
        ("greet:main", "main.pyz"),
        ("greet:none", "none.pyz"),
        ("greet:seven", "seven.pyz"),
        ("greet:text", "text.pyz"),
        ("greet:argv", "argv.pyz"),
        ("greet", "module.pyz"),
    ] {
        build_greet(&t, entry, out);
    }
    t.pyz(&python, "main.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    t.pyz(&python, "none.pyz").run().success().stdout_is("");
    t.pyz(&python, "seven.pyz").run().code(7);
    t.pyz(&python, "text.pyz")
        .run()
        .code(1)
        .stderr_contains("a message");
    t.pyz(&python, "argv.pyz")
        .args(["one", "--two", "-c"])
        .run()
        .success()
        .stdout_is("['one', '--two', '-c']\n");
    t.pyz(&python, "module.pyz")
        .run()
        .success()
        .stdout_is("greet as a module\n");
}
every_cpython!(dispatch);

/// A script (`-c NAME` found as `bin/NAME`) runs as `__main__` with `sys.argv[0]` the pyz,
/// and ending normally exits 0 (shiv exits 1 and prints a dict: its #240).
fn script(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    let wheels = t.wheels(&[greet().script(
        "show-argv",
        "#!python\nimport sys\nprint(sys.argv[0])\nprint(__name__)\nprint(sys.argv[1:])\n",
    )]);
    t.build(&["greet", "-c", "show-argv", "-o", "script.pyz"], &wheels)
        .success();
    let pyz = t.path("script.pyz");
    t.pyz(&python, "script.pyz")
        .arg("x")
        .run()
        .success()
        .stdout_is(&format!("{}\n__main__\n['x']\n", pyz.display()));
}
every_cpython!(script);

/// An entry point whose attribute does not exist: one line naming `MOD:ATTR`, no traceback.
fn missing_attribute(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    build_greet(&t, "greet:nosuch", "broken.pyz");
    t.pyz(&python, "broken.pyz")
        .run()
        .failure()
        .stderr_line_with(&["greet:nosuch"]);
}
every_cpython!(missing_attribute);

/// `sys.path`: the standard library, then the extracted payload, then the interpreter's
/// own site-packages.
fn sys_path_order(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    build_greet(&t, "greet:path", "path.pyz");
    let out = t.pyz(&python, "path.pyz").run();
    out.success();
    let paths = t
        .command(&python)
        .args([
            "-c",
            "import sysconfig; p = sysconfig.get_paths(); print(p['stdlib']); print(p['purelib'])",
        ])
        .run();
    let wanted = paths.lines();
    let payload = t.extraction("path.pyz").join("site-packages");
    let position = |entry: &Path| {
        out.lines()
            .iter()
            .position(|line| Path::new(line) == entry)
            .unwrap_or_else(|| panic!("{} is not on sys.path:\n{}", entry.display(), out.stdout))
    };
    let stdlib = position(Path::new(wanted[0]));
    let ours = position(&payload);
    let system = position(Path::new(wanted[1]));
    assert!(
        stdlib < ours && ours < system,
        "expected stdlib < payload < site-packages, got {stdlib}, {ours}, {system}:\n{}",
        out.stdout
    );
}
every_cpython!(sys_path_order);

/// `.pth` files at the top of the payload are processed: path lines and `import` lines.
fn pth_files(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    let wheels = t.wheels(&[Wheel::new("pthdemo", "1.0")
        .file("pthdemo.pth", "extra_dir\nimport os; os.environ['PTH_RAN'] = 'yes'\n")
        .file("extra_dir/hidden.py", "VALUE = 'found'\n")
        .file(
            "pthdemo_main.py",
            "def main():\n    import os, hidden\n    print(hidden.VALUE, os.environ.get('PTH_RAN'))\n",
        )]);
    t.build(
        &["pthdemo", "-e", "pthdemo_main:main", "-o", "pth.pyz"],
        &wheels,
    )
    .success();
    t.pyz(&python, "pth.pyz")
        .run()
        .success()
        .stdout_is("found yes\n");
}
every_cpython!(pth_files);

/// The first run extracts to `<root>/<name>_<build id>/site-packages` and marks it ready;
/// the second uses that tree as it is.
#[test]
fn second_run_uses_the_cache() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, "greet:main", "app.pyz");
    t.pyz(&python, "app.pyz").run().success();
    let extraction = t.extraction("app.pyz");
    let file = extraction.join("site-packages/greet/__init__.py");
    assert!(file.is_file(), "{:?}", tree(&t.root()));
    assert!(
        extraction.join(".rshiv-ready").is_file(),
        "no marker: {:?}",
        tree(&extraction)
    );
    let stamp = |path: &Path| {
        let meta = std::fs::metadata(path).expect("stat the extraction");
        (meta.ino(), meta.mtime(), meta.mtime_nsec())
    };
    let before = (stamp(&extraction.join("site-packages")), stamp(&file));
    std::thread::sleep(std::time::Duration::from_millis(20));
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    assert_eq!(
        before,
        (stamp(&extraction.join("site-packages")), stamp(&file))
    );
    let name = extraction
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    assert!(
        listing(&t.root())
            .iter()
            .all(|entry| entry == &name || entry.starts_with(".")),
        "{:?}",
        listing(&t.root())
    );
}

/// A renamed copy of a pyz shares the original's extraction (the name is baked).
#[test]
fn renamed_copy_shares_the_extraction() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, "greet:main", "app.pyz");
    std::fs::copy(t.path("app.pyz"), t.path("renamed.pyz")).expect("copy the pyz");
    t.pyz(&python, "app.pyz").run().success();
    t.pyz(&python, "renamed.pyz").run().success();
    let extractions: Vec<String> = listing(&t.root())
        .into_iter()
        .filter(|entry| !entry.starts_with('.'))
        .collect();
    assert_eq!(extractions.len(), 1, "{extractions:?}");
}

/// Eight first runs at once all succeed and leave one extraction and no temp dirs.
#[test]
fn concurrent_first_runs_all_succeed() {
    let python = python!(11);
    let t = Test::new();
    let many: Vec<Wheel> = vec![(0..300).fold(greet(), |wheel, i| {
        wheel.file(&format!("greet/data/m{i}.py"), format!("X = {i}\n"))
    })];
    let wheels = t.wheels(&many);
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| t.pyz(&python, "app.pyz").run()))
            .collect();
        for run in runs {
            run.join()
                .expect("a run thread")
                .success()
                .stdout_is("hello from greet\n");
        }
    });
    let entries = listing(&t.root());
    assert!(
        !entries
            .iter()
            .any(|e| e.contains(".tmp-") || e.starts_with(".trash-")),
        "{entries:?}"
    );
    assert_eq!(
        entries.iter().filter(|e| !e.starts_with('.')).count(),
        1,
        "{entries:?}"
    );
}

/// A first run killed part-way leaves nothing a later run trusts: the next run succeeds and
/// every file is whole.
#[test]
fn killed_first_run_is_recovered() {
    let python = python!(11);
    let t = Test::new();
    let body = "# padding\n".repeat(2000);
    let many: Vec<Wheel> = vec![(0..400).fold(greet(), |wheel, i| {
        wheel.file(&format!("greet/data/m{i}.py"), format!("X = {i}\n{body}"))
    })];
    let wheels = t.wheels(&many);
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    for delay in [30, 80, 150] {
        let mut child = t.pyz(&python, "app.pyz").spawn(&t.path("killed.log"));
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        t.pyz(&python, "app.pyz")
            .run()
            .success()
            .stdout_is("hello from greet\n");
        let site = t.extraction("app.pyz").join("site-packages/greet/data");
        for i in 0..400 {
            let text = std::fs::read_to_string(site.join(format!("m{i}.py")))
                .unwrap_or_else(|e| panic!("m{i}.py after a kill at {delay} ms: {e}"));
            assert_eq!(text, format!("X = {i}\n{body}"), "m{i}.py");
        }
        std::fs::remove_dir_all(t.root()).expect("clear the cache for the next round");
    }
}

/// A temp dir left by a crashed extraction is removed by the next cold run.
#[test]
fn stale_temp_dirs_are_removed() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, "greet:main", "app.pyz");
    let name = t
        .extraction("app.pyz")
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    let stale = t.root().join(format!(".{name}.tmp-99999-crashed"));
    std::fs::create_dir_all(stale.join("site-packages/greet")).expect("make a stale dir");
    std::fs::write(
        stale.join("site-packages/greet/__init__.py"),
        "raise SystemExit('stale')\n",
    )
    .expect("write a stale file");
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    assert!(!stale.exists(), "{:?}", listing(&t.root()));
}

/// Nothing of the payload leaks to where the pyz lies or to the current directory.
#[test]
fn running_writes_only_under_the_cache_root() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, "greet:main", "app.pyz");
    let before = listing(t.dir());
    t.pyz(&python, "app.pyz").run().success();
    let mut after = listing(t.dir());
    after.retain(|entry| !before.contains(entry));
    assert_eq!(after, ["cache"]);
}

/// `--no-modify`: a changed or deleted extracted `.py` file stops the run, naming the file.
#[test]
fn no_modify_refuses_a_changed_extraction() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet().file("greet/other.py", "X = 1\n")]);
    t.build(
        &["greet", "-c", "greet", "--no-modify", "-o", "app.pyz"],
        &wheels,
    )
    .success();
    let hashes = &Pyz::open(t.path("app.pyz")).environment()["hashes"];
    assert!(hashes.get("greet/__init__.py").is_some(), "{hashes}");
    t.pyz(&python, "app.pyz").run().success();
    let site = t.extraction("app.pyz").join("site-packages");
    std::fs::write(
        site.join("greet/__init__.py"),
        "def main():\n    print('changed')\n",
    )
    .expect("change an extracted file");
    t.pyz(&python, "app.pyz")
        .run()
        .failure()
        .stdout_is("")
        .stderr_line_with(&["greet/__init__.py"]);
    t.pyz(&python, "app.pyz")
        .env("SHIV_FORCE_EXTRACT", "1")
        .run()
        .success();
    std::fs::remove_file(site.join("greet/other.py")).expect("delete an extracted file");
    t.pyz(&python, "app.pyz")
        .run()
        .failure()
        .stderr_line_with(&["greet/other.py"]);
}

/// `--compile-pyc` shows a file that does not compile, and the run goes on.
#[test]
fn compile_pyc_shows_errors() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet().file("greet/broken.py", "def (:\n")]);
    t.build(
        &["greet", "-c", "greet", "--compile-pyc", "-o", "app.pyz"],
        &wheels,
    )
    .success();
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n")
        .stderr_contains("broken.py");
}

/// `--isolated` keeps the interpreter's own site-packages off `sys.path`.
#[test]
fn isolated_drops_system_site_packages() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(
        &["greet", "-e", "greet:path", "--isolated", "-o", "iso.pyz"],
        &wheels,
    )
    .success();
    let purelib = t
        .command(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .run()
        .stdout
        .trim()
        .to_owned();
    let out = t.pyz(&python, "iso.pyz").run();
    out.success();
    assert!(!out.lines().contains(&purelib.as_str()), "{}", out.stdout);
    let payload = t.extraction("iso.pyz").join("site-packages");
    assert!(out.lines().contains(&payload.to_string_lossy().as_ref()));
}

/// A symlink named after one of the payload's console scripts runs that script.
#[test]
fn symlink_named_after_a_console_script_runs_it() {
    let t = Test::new();
    let python = python!(11);
    let wheels = t.wheels(&[greet()]);
    let shebang = python.to_string_lossy().into_owned();
    t.build(
        &["greet", "-c", "greet", "-p", &shebang, "-o", "greet.pyz"],
        &wheels,
    )
    .success();
    std::os::unix::fs::symlink(t.path("greet.pyz"), t.path("greet-seven")).expect("symlink");
    t.command(t.path("greet-seven")).run().code(7);
    t.command(t.path("greet.pyz"))
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// Odd payload files come out byte for byte: non-ASCII names, empty files, binary and
/// incompressible data, deep paths; execute bits survive extraction.
fn payload_fidelity(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let mut noise = Vec::with_capacity(1 << 20);
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    while noise.len() < 1 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        noise.extend_from_slice(&state.to_le_bytes());
    }
    let deep = "greet/a/b/c/d/e/f/g/h/deep.txt";
    let wheels = t.wheels(&[greet()
        .file("greet/données.py", "VALUE = 'é'\n")
        .file("greet/empty.txt", "")
        .file("greet/binary.bin", &binary)
        .file("greet/noise.bin", &noise)
        .file(deep, "deep\n")
        .executable("greet/tool.sh", "#!/bin/sh\necho tool\n")]);
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    t.pyz(&python, "app.pyz").run().success();
    let site = t.extraction("app.pyz").join("site-packages");
    let read = |name: &str| {
        std::fs::read(site.join(name)).unwrap_or_else(|e| panic!("read extracted {name}: {e}"))
    };
    assert_eq!(read("greet/données.py"), "VALUE = 'é'\n".as_bytes());
    assert_eq!(read("greet/empty.txt"), b"");
    assert!(read("greet/binary.bin") == binary);
    assert!(read("greet/noise.bin") == noise);
    assert_eq!(read(deep), b"deep\n");
    let mode = std::fs::metadata(site.join("greet/tool.sh"))
        .expect("stat tool.sh")
        .mode();
    assert_eq!(mode & 0o111, 0o111, "mode {mode:o}");
    t.command(site.join("greet/tool.sh"))
        .run()
        .success()
        .stdout_is("tool\n");
}
every_cpython!(payload_fidelity);

/// The interpreter's own flags do not get in the way: `-I` (isolated), `-S` (no site),
/// `-B`, and a relative path from another directory.
#[test]
fn interpreter_flags_and_relative_paths() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    for flag in ["-I", "-S", "-B", "-E"] {
        t.command(&python)
            .arg(flag)
            .arg(t.path("app.pyz"))
            .run()
            .success()
            .stdout_is("hello from greet\n");
    }
    t.mkdir("elsewhere");
    t.command(&python)
        .arg("../app.pyz")
        .current_dir("elsewhere")
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// A script's own `sys.exit(N)` is its exit code.
#[test]
fn script_exit_codes_pass_through() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet().script("three", "#!python\nimport sys\nsys.exit(3)\n")]);
    t.build(&["greet", "-c", "three", "-o", "three.pyz"], &wheels)
        .success();
    t.pyz(&python, "three.pyz").run().code(3);
}

/// Errors raised by the app itself are the app's: a full traceback naming the real cause,
/// never mistaken for a missing entry point (an AttributeError or ImportError from inside).
#[test]
fn errors_inside_the_app_keep_their_traceback() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[Wheel::new("oops", "1.0")
        .file(
            "oops/__init__.py",
            "def attr():\n    return object().no_such_attribute\n\n\ndef value():\n    raise ValueError('bad value')\n",
        )
        .file("oops/needs.py", "import not_installed_dep\n\n\ndef main():\n    pass\n")]);
    for (entry, out) in [
        ("oops:attr", "attr.pyz"),
        ("oops:value", "value.pyz"),
        ("oops.needs:main", "needs.pyz"),
    ] {
        t.build(&["oops", "-e", entry, "-o", out], &wheels)
            .success();
    }
    let crashed = |pyz: &str, cause: &str| {
        let out = t.pyz(&python, pyz).run();
        out.code(1)
            .stderr_contains("Traceback")
            .stderr_contains(cause);
    };
    crashed("attr.pyz", "no_such_attribute");
    crashed("value.pyz", "ValueError: bad value");
    crashed("needs.pyz", "not_installed_dep");
}

/// shiv's preamble contract: globals `site_packages` (a `Path`), `env` (with attributes
/// like `build_id`) and `archive`, as shiv's documented cleanup preamble uses them.
#[test]
fn preamble_gets_shivs_globals() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.write(
        "pre.py",
        "current = site_packages.parent\nname, build_id = current.name.rsplit('_', 1)\nprint(name, build_id == env.build_id, str(archive).endswith('app.pyz'), flush=True)\n",
    );
    t.build(
        &[
            "greet",
            "-c",
            "greet",
            "--preamble",
            "pre.py",
            "-o",
            "app.pyz",
        ],
        &wheels,
    )
    .success();
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("app True True\nhello from greet\n");
}

/// A baked `--root $VAR` whose variable is unset at run time falls back to the default
/// root, and creates nothing in the current directory.
#[test]
fn unset_root_variable_falls_back() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(
        &[
            "greet",
            "-c",
            "greet",
            "--root",
            "$RSHIV_TEST_UNSET",
            "-o",
            "app.pyz",
        ],
        &wheels,
    )
    .success();
    t.mkdir("cwd");
    t.pyz(&python, "app.pyz")
        .current_dir("cwd")
        .env_remove("RSHIV_ROOT")
        .env_remove("RSHIV_TEST_UNSET")
        .env("XDG_CACHE_HOME", t.path("xdg"))
        .run()
        .success()
        .stdout_is("hello from greet\n");
    assert_eq!(listing(&t.path("cwd")), Vec::<String>::new());
    assert!(!listing(&t.path("xdg/rshiv")).is_empty());
}

/// One extraction serves every CPython in turn, with and without `--compile-pyc`.
#[test]
fn one_extraction_serves_every_cpython() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    for (flag, out) in [("--compile-pyc", "pyc.pyz"), ("-q", "plain.pyz")] {
        t.build(&["greet", "-c", "greet", flag, "-o", out], &wheels)
            .success();
        for (minor, python) in crate::support::pythons() {
            t.pyz(python, out)
                .run()
                .success()
                .stdout_is("hello from greet\n");
            assert!(t.extraction(out).is_dir(), "3.{minor}");
        }
    }
    let extractions = listing(&t.root())
        .into_iter()
        .filter(|e| !e.starts_with('.'))
        .count();
    assert_eq!(extractions, 2, "{:?}", listing(&t.root()));
}

/// A tree without its `.rshiv-ready` marker is not trusted: the next run extracts again.
#[test]
fn unmarked_tree_is_extracted_again() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, "greet:main", "app.pyz");
    t.pyz(&python, "app.pyz").run().success();
    let extraction = t.extraction("app.pyz");
    std::fs::remove_file(extraction.join(".rshiv-ready")).expect("remove the marker");
    std::fs::write(
        extraction.join("site-packages/greet/__init__.py"),
        "def main():\n    print('half-written')\n",
    )
    .expect("spoil the tree");
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    assert!(extraction.join(".rshiv-ready").is_file());
}

/// A run refreshes the marker's mtime ("last used") once it is over a minute old.
#[test]
fn a_run_marks_the_extraction_as_used() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, "greet:main", "app.pyz");
    t.pyz(&python, "app.pyz").run().success();
    let marker = t.extraction("app.pyz").join(".rshiv-ready");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&marker)
        .and_then(|file| file.set_modified(old))
        .expect("age the marker");
    t.pyz(&python, "app.pyz").run().success();
    let used = std::fs::metadata(&marker)
        .and_then(|meta| meta.modified())
        .expect("the marker's mtime");
    let age = used.elapsed().unwrap_or_default();
    assert!(
        age < std::time::Duration::from_secs(600),
        "marker is {age:?} old"
    );
}

/// The payload's distributions are visible to `importlib.metadata`: versions and entry
/// points (what `--version` options and plugin systems read).
fn distribution_metadata(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    let wheels = t.wheels(&[greet().file(
        "greet/meta.py",
        r#"import importlib.metadata as md


def main():
    eps = md.entry_points()
    scripts = eps.select(group="console_scripts") if hasattr(eps, "select") else eps["console_scripts"]
    names = sorted(ep.name for ep in scripts if ep.value.startswith("greet:"))
    print(md.version("greet"), names)
"#,
    )]);
    t.build(
        &["greet", "-e", "greet.meta:main", "-o", "meta.pyz"],
        &wheels,
    )
    .success();
    t.pyz(&python, "meta.pyz")
        .run()
        .success()
        .stdout_is("1.0 ['greet', 'greet-seven']\n");
}
every_cpython!(distribution_metadata);

/// `-E` keeps the user's own PYTHONPATH for children, adding the payload to it.
#[test]
fn extend_pythonpath_keeps_the_users_entries() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet().file(
        "greet/pp.py",
        "import os\n\n\ndef main():\n    print(os.environ['PYTHONPATH'])\n",
    )]);
    t.build(
        &["greet", "-E", "-e", "greet.pp:main", "-o", "pp.pyz"],
        &wheels,
    )
    .success();
    let mine = t.mkdir("mine");
    let out = t.pyz(&python, "pp.pyz").env("PYTHONPATH", &mine).run();
    out.success();
    let entries: Vec<&str> = out.stdout.trim().split(':').collect();
    let payload = t.extraction("pp.pyz").join("site-packages");
    assert!(entries.contains(&mine.as_str()), "{entries:?}");
    assert!(
        entries.contains(&payload.to_string_lossy().as_ref()),
        "{entries:?}"
    );
}
