//! What a pyz runs: the entry point chosen at build time (`-c`, `-e`) and the dispatch to
//! it at run time, under every CPython from 3.8 to 3.13.

use crate::support::{build_greet, greet, Pyz, Test, Wheel};
use crate::{every_cpython, python};

/// Console script names are case-sensitive keys of `[console_scripts]`.
#[test]
fn console_script_names_are_case_sensitive() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()
        .console_script("Shout", "greet:main")
        .console_script("shout", "greet:seven")]);
    t.build(&["greet", "-c", "Shout", "-o", "upper.pyz"], &wheels)
        .success();
    t.build(&["greet", "-c", "shout", "-o", "lower.pyz"], &wheels)
        .success();
    t.pyz(&python, "upper.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    t.pyz(&python, "lower.pyz").run().code(7);
}

/// `-c NAME` falls back to the script `bin/NAME` when no console script has that name.
#[test]
fn console_script_falls_back_to_a_bin_script() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet().script("hello-script", "#!python\nprint('from bin')\n")]);
    t.build(
        &["greet", "-c", "hello-script", "-o", "script.pyz"],
        &wheels,
    )
    .success();
    assert!(Pyz::open(t.path("script.pyz"))
        .payload_names()
        .contains(&"bin/hello-script".to_owned()));
    t.pyz(&python, "script.pyz")
        .run()
        .success()
        .stdout_is("from bin\n");
}

/// Entry points as the entry points spec writes them: nested packages, namespace packages,
/// dotted attributes, and console scripts with extras (`mod:attr [extra]`).
#[test]
fn entry_point_forms() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()
        .file("greet/sub/__init__.py", "")
        .file("greet/sub/deep.py", "def main():\n    print('deep')\n")
        .file("nspkg/inner.py", "def main():\n    print('namespace')\n")
        .file(
            "greet/tools.py",
            "class Tool:\n    @staticmethod\n    def run():\n        print('dotted')\n",
        )
        .console_script("fancy", "greet:main [color]")]);
    for (flag, value, expected) in [
        ("-e", "greet.sub.deep:main", "deep\n"),
        ("-e", "nspkg.inner:main", "namespace\n"),
        ("-e", "greet.tools:Tool.run", "dotted\n"),
        ("-c", "fancy", "hello from greet\n"),
    ] {
        let out = format!("{}.pyz", value.replace([':', '.'], "-"));
        t.build(&["greet", flag, value, "-o", &out], &wheels)
            .success();
        t.pyz(&python, &out).run().success().stdout_is(expected);
    }
}

/// `-e MOD` may name a standard-library module of the build interpreter.
#[test]
fn entry_point_may_be_a_stdlib_module() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-e", "json.tool"], "json.pyz");
    t.pyz(&python, "json.pyz")
        .stdin("{\"a\": [1]}")
        .run()
        .success()
        .stdout_is("{\n    \"a\": [\n        1\n    ]\n}\n");
}

/// With only `--site-packages`, `-e` may still name a standard-library module.
#[test]
fn stdlib_entry_point_without_an_installer() {
    let python = python!(11);
    let t = Test::new();
    t.write("sp/helper.py", "");
    t.rshiv()
        .args(["--site-packages", "sp", "-e", "json.tool", "-o", "json.pyz"])
        .run()
        .success();
    t.pyz(&python, "json.pyz")
        .stdin("[1]")
        .run()
        .success()
        .stdout_is("[\n    1\n]\n");
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
        build_greet(&t, &["-e", entry], out);
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

/// An entry point whose attribute does not exist: one line naming `MOD:ATTR`, no traceback.
fn missing_attribute(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    build_greet(&t, &["-e", "greet:nosuch"], "broken.pyz");
    t.pyz(&python, "broken.pyz")
        .run()
        .failure()
        .stderr_line_with(&["greet:nosuch"]);
}
every_cpython!(missing_attribute);

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

/// A symlink named after one of the payload's console scripts runs that script; a copy
/// under that name does not.
#[test]
fn symlink_named_after_a_console_script_runs_it() {
    let t = Test::new();
    let python = python!(11);
    let shebang = python.to_string_lossy().into_owned();
    build_greet(&t, &["-c", "greet", "-p", &shebang], "greet.pyz");
    std::os::unix::fs::symlink(t.path("greet.pyz"), t.path("greet-seven")).expect("symlink");
    t.command(t.path("greet-seven")).run().code(7);
    t.command(t.path("greet.pyz"))
        .run()
        .success()
        .stdout_is("hello from greet\n");
    // A copy under that name is not a link: it runs the entry point it was built with.
    t.mkdir("copy");
    std::fs::copy(t.path("greet.pyz"), t.path("copy/greet-seven")).expect("copy the pyz");
    t.command(t.path("copy/greet-seven"))
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// `entry_points.txt` is INI as the entry points spec reads it: `=` with or without spaces,
/// `#` comments, other sections ignored.
#[test]
fn entry_points_txt_syntax() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[Wheel::new("ep", "1.0")
        .file(
            "ep/__init__.py",
            "def main():\n    print('ep main')\n\n\ndef seven():\n    return 7\n",
        )
        .file(
            "ep-1.0.dist-info/entry_points.txt",
            "# a comment\n[gui_scripts]\nep-tight = ep:seven\n\n[console_scripts]\n# another comment\nep-tight=ep:main\nep-spaced   =   ep:seven\n",
        )]);
    t.build(&["ep", "-c", "ep-tight", "-o", "tight.pyz"], &wheels)
        .success();
    t.pyz(&python, "tight.pyz")
        .run()
        .success()
        .stdout_is("ep main\n");
    t.build(&["ep", "-c", "ep-spaced", "-o", "spaced.pyz"], &wheels)
        .success();
    t.pyz(&python, "spaced.pyz").run().code(7);
}

/// `-e MOD` runs MOD as `python -m MOD` would: `__name__` is `__main__` and the arguments
/// follow in `sys.argv[1:]`.
#[test]
fn module_entry_point_gets_its_arguments() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet().file(
        "greet/show.py",
        "import sys\nif __name__ == '__main__':\n    print(__name__, sys.argv[1:])\n",
    )]);
    t.build(&["greet", "-e", "greet.show", "-o", "show.pyz"], &wheels)
        .success();
    t.pyz(&python, "show.pyz")
        .args(["a", "-m", "--flag"])
        .run()
        .success()
        .stdout_is("__main__ ['a', '-m', '--flag']\n");
}

/// Names as Python and the entry points spec allow them: non-ASCII identifiers (PEP 3131),
/// leading underscores and digits, console script names with dots.
#[test]
fn unusual_but_valid_names() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()
        .file("grüße.py", "def hallo():\n    print('grüße')\n")
        .file("_private2.py", "def _main3():\n    print('private')\n")
        .console_script("my.tool", "greet:main")]);
    for (flag, value, expected) in [
        ("-e", "grüße:hallo", "grüße\n"),
        ("-e", "_private2:_main3", "private\n"),
        ("-c", "my.tool", "hello from greet\n"),
    ] {
        let out = format!("{}.pyz", value.replace([':', '.'], "-"));
        t.build(&["greet", flag, value, "-o", &out], &wheels)
            .success();
        t.pyz(&python, &out).run().success().stdout_is(expected);
    }
}
