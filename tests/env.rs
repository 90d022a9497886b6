//! The variables a pyz reads at run time: shiv's `SHIV_*` and the same as `RSHIV_*`, which
//! wins when both are set.

use std::os::unix::fs::MetadataExt;

use crate::python;
use crate::support::{build_greet, tree, Test};

/// A test with `greet.pyz` (console script `greet`) built in it.
fn with_greet() -> Test {
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "greet.pyz");
    t
}

/// `SHIV_INTERPRETER`: `-c CODE`, `-m MOD`, `-` (stdin), a script path, and a REPL fed
/// by stdin, each with the payload importable.
#[test]
fn interpreter_runs_code_modules_scripts_and_a_repl() {
    let python = python!(11);
    let t = with_greet();
    let interpreter = || {
        let mut cmd = t.pyz(&python, "greet.pyz");
        cmd.env("SHIV_INTERPRETER", "1");
        cmd
    };
    interpreter()
        .args([
            "-c",
            "import greet, sys; print(greet.seven(), sys.argv[1:])",
            "a",
        ])
        .run()
        .success()
        .stdout_is("7 ['a']\n");
    interpreter()
        .args(["-m", "greet"])
        .run()
        .success()
        .stdout_is("greet as a module\n");
    interpreter()
        .arg("-")
        .stdin("import greet\nprint('stdin', greet.seven())\n")
        .run()
        .success()
        .stdout_is("stdin 7\n");
    let script = t.write(
        "script.py",
        "import sys, greet\nprint(__name__, sys.argv[1:])\n",
    );
    interpreter()
        .arg(&script)
        .arg("b")
        .run()
        .success()
        .stdout_is("__main__ ['b']\n");
    interpreter()
        .stdin("import greet\nprint('repl', greet.seven())\n")
        .run()
        .success()
        .stdout_contains("repl 7");
}

/// Booleans parse like shiv's: yes/true/t/1 (any case) are true; anything else, "0"
/// included, is false. `SHIV_INTERPRETER` follows the same rule.
#[test]
fn boolean_values_parse_like_shivs() {
    let python = python!(11);
    let t = with_greet();
    for yes in ["1", "yes", "true", "t", "TRUE", "Yes"] {
        t.pyz(&python, "greet.pyz")
            .env("SHIV_INTERPRETER", yes)
            .args(["-c", "print('interpreter')"])
            .run()
            .success()
            .stdout_is("interpreter\n");
    }
    for no in ["0", "no", "false", ""] {
        t.pyz(&python, "greet.pyz")
            .env("SHIV_INTERPRETER", no)
            .run()
            .success()
            .stdout_is("hello from greet\n");
    }
}

/// `SHIV_ENTRY_POINT` and `SHIV_MODULE` replace the baked entry point.
#[test]
fn entry_point_and_module_override() {
    let python = python!(11);
    let t = with_greet();
    t.pyz(&python, "greet.pyz")
        .env("SHIV_ENTRY_POINT", "greet:seven")
        .run()
        .code(7);
    t.pyz(&python, "greet.pyz")
        .env("SHIV_MODULE", "greet")
        .run()
        .success()
        .stdout_is("greet as a module\n");
    t.pyz(&python, "greet.pyz")
        .env("SHIV_ENTRY_POINT", "greet")
        .run()
        .success()
        .stdout_is("greet as a module\n");
}

/// `SHIV_CONSOLE_SCRIPT` runs another console script of the payload.
#[test]
fn console_script_override() {
    let python = python!(11);
    let t = with_greet();
    t.pyz(&python, "greet.pyz")
        .env("SHIV_CONSOLE_SCRIPT", "greet-seven")
        .run()
        .code(7);
}

/// `RSHIV_*` wins over `SHIV_*`.
#[test]
fn rshiv_variables_win_over_shiv_variables() {
    let python = python!(11);
    let t = with_greet();
    t.pyz(&python, "greet.pyz")
        .env("SHIV_ENTRY_POINT", "greet:none")
        .env("RSHIV_ENTRY_POINT", "greet:seven")
        .run()
        .code(7);
    t.pyz(&python, "greet.pyz")
        .env("SHIV_INTERPRETER", "1")
        .env("RSHIV_INTERPRETER", "0")
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// The entry-point variables are gone from `os.environ` when the entry point runs, so its
/// children do not inherit them.
#[test]
fn entry_point_variables_are_not_inherited() {
    let python = python!(11);
    let t = with_greet();
    t.pyz(&python, "greet.pyz")
        .env("SHIV_ENTRY_POINT", "greet:env_keys")
        .run()
        .success()
        .stdout_lacks("ENTRY_POINT");
    t.pyz(&python, "greet.pyz")
        .env("RSHIV_ENTRY_POINT", "greet:env_keys")
        .env("SHIV_CONSOLE_SCRIPT", "greet")
        .run()
        .success()
        .stdout_lacks("ENTRY_POINT")
        .stdout_lacks("CONSOLE_SCRIPT");
}

/// `SHIV_ROOT` sets the cache root; `RSHIV_ROOT` wins over it.
#[test]
fn root_variables_choose_the_cache() {
    let python = python!(11);
    let t = with_greet();
    let extraction = t.extraction("greet.pyz");
    let name = extraction.file_name().expect("a name");
    t.pyz(&python, "greet.pyz")
        .env_remove("RSHIV_ROOT")
        .env("SHIV_ROOT", t.path("shiv-root"))
        .run()
        .success();
    assert!(t
        .path("shiv-root")
        .join(name)
        .join("site-packages")
        .is_dir());
    t.pyz(&python, "greet.pyz")
        .env("SHIV_ROOT", t.path("loser"))
        .env("RSHIV_ROOT", t.path("winner"))
        .run()
        .success();
    assert!(t.path("winner").join(name).join("site-packages").is_dir());
    assert!(!t.path("loser").exists());
}

/// With no root variable and no baked root, the cache is `$XDG_CACHE_HOME/rshiv`.
#[test]
fn default_root_is_under_xdg_cache_home() {
    let python = python!(11);
    let t = with_greet();
    let name = t.extraction("greet.pyz");
    let name = name.file_name().expect("a name");
    t.pyz(&python, "greet.pyz")
        .env_remove("RSHIV_ROOT")
        .env("XDG_CACHE_HOME", t.path("xdg"))
        .run()
        .success();
    assert!(t
        .path("xdg/rshiv")
        .join(name)
        .join("site-packages")
        .is_dir());
}

/// `SHIV_FORCE_EXTRACT` replaces an existing extraction with a fresh one.
#[test]
fn force_extract_extracts_again() {
    let python = python!(11);
    let t = with_greet();
    t.pyz(&python, "greet.pyz").run().success();
    let site = t.extraction("greet.pyz").join("site-packages");
    std::fs::write(
        site.join("greet/__init__.py"),
        "def main():\n    print('tampered')\n",
    )
    .expect("tamper with the extraction");
    t.pyz(&python, "greet.pyz")
        .run()
        .success()
        .stdout_is("tampered\n");
    let inode = std::fs::metadata(&site).expect("stat").ino();
    t.pyz(&python, "greet.pyz")
        .env("SHIV_FORCE_EXTRACT", "1")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    assert_ne!(std::fs::metadata(&site).expect("stat").ino(), inode);
    t.pyz(&python, "greet.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// `SHIV_COMPILE_PYC` compiles at extraction, like `--compile-pyc`.
#[test]
fn compile_pyc_variable() {
    let python = python!(11);
    let t = with_greet();
    t.pyz(&python, "greet.pyz")
        .env("SHIV_COMPILE_PYC", "1")
        .run()
        .success();
    let files = tree(&t.extraction("greet.pyz"));
    assert!(files.iter().any(|f| f.ends_with(".pyc")), "{files:?}");
}

/// `SHIV_EXTEND_PYTHONPATH` lets child interpreters import the payload; without it they
/// cannot.
#[test]
fn extend_pythonpath_reaches_children() {
    let python = python!(11);
    let t = with_greet();
    t.pyz(&python, "greet.pyz")
        .env("SHIV_ENTRY_POINT", "greet:child")
        .run()
        .code(1);
    t.pyz(&python, "greet.pyz")
        .env("SHIV_ENTRY_POINT", "greet:child")
        .env("SHIV_EXTEND_PYTHONPATH", "1")
        .run()
        .success();
}

/// `-E/--extend-pythonpath` at build time does the same.
#[test]
fn extend_pythonpath_option() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-E", "-e", "greet:child"], "child.pyz");
    t.pyz(&python, "child.pyz").run().success();
}

/// `SHIV_PREPEND_PYTHONPATH` puts a directory first on `sys.path`, ahead of the payload.
#[test]
fn prepend_pythonpath_comes_first() {
    let python = python!(11);
    let t = with_greet();
    let dir = t.mkdir("override");
    let out = t
        .pyz(&python, "greet.pyz")
        .env("SHIV_ENTRY_POINT", "greet:path")
        .env("SHIV_PREPEND_PYTHONPATH", &dir)
        .run();
    out.success();
    let lines = out.lines();
    let ours = t.extraction("greet.pyz").join("site-packages");
    let at = |p: &str| lines.iter().position(|l| *l == p);
    let (prepended, payload) = (at(&dir), at(&ours.to_string_lossy()));
    assert!(prepended.is_some() && prepended < payload, "{}", out.stdout);
}

/// `SHIV_COMPILE_WORKERS` is accepted alongside `SHIV_COMPILE_PYC`.
#[test]
fn compile_workers_variable() {
    let python = python!(11);
    let t = with_greet();
    t.pyz(&python, "greet.pyz")
        .env("SHIV_COMPILE_PYC", "1")
        .env("SHIV_COMPILE_WORKERS", "1")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    assert!(tree(&t.extraction("greet.pyz"))
        .iter()
        .any(|f| f.ends_with(".pyc")));
}

/// Every variable also works under its `RSHIV_` name alone.
#[test]
fn every_variable_has_an_rshiv_name() {
    let python = python!(11);
    let t = with_greet();
    let run = |pairs: &[(&str, &str)]| {
        let mut cmd = t.pyz(&python, "greet.pyz");
        for (key, value) in pairs {
            cmd.env(key, value);
        }
        cmd.run()
    };
    run(&[("RSHIV_MODULE", "greet")])
        .success()
        .stdout_is("greet as a module\n");
    run(&[("RSHIV_CONSOLE_SCRIPT", "greet-seven")]).code(7);
    run(&[
        ("RSHIV_ENTRY_POINT", "greet:child"),
        ("RSHIV_EXTEND_PYTHONPATH", "1"),
    ])
    .success();
    let dir = t.mkdir("prepended");
    run(&[
        ("RSHIV_ENTRY_POINT", "greet:path"),
        ("RSHIV_PREPEND_PYTHONPATH", &dir),
    ])
    .success()
    .stdout_contains(&dir);
    let site = t.extraction("greet.pyz").join("site-packages");
    let inode = std::fs::metadata(&site).expect("stat").ino();
    run(&[
        ("RSHIV_FORCE_EXTRACT", "yes"),
        ("RSHIV_COMPILE_PYC", "true"),
    ])
    .success();
    assert_ne!(std::fs::metadata(&site).expect("stat").ino(), inode);
    let files = tree(&site);
    assert!(files.iter().any(|f| f.ends_with(".pyc")), "{files:?}");
}
