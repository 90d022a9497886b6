//! Building: the output file, its bytes on disk, and what each build option changes.

use crate::python;
use crate::support::{greet, Pyz, Test};

#[test]
fn builds_a_pyz_that_runs_its_console_script() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(&["greet", "-c", "greet", "-o", "greet.pyz"], &wheels)
        .success();
    t.pyz(&python, "greet.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// shiv's default shebang, then `-p` replaces it verbatim.
#[test]
fn shebang_is_env_python3_unless_p_says_otherwise() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.build(&["greet", "-c", "greet", "-o", "default.pyz"], &wheels)
        .success();
    assert_eq!(
        Pyz::open(t.path("default.pyz")).shebang(),
        "#!/usr/bin/env python3"
    );
    t.build(
        &[
            "greet",
            "-c",
            "greet",
            "-p",
            "/opt/py/bin/python3 -sE",
            "-o",
            "custom.pyz",
        ],
        &wheels,
    )
    .success();
    assert_eq!(
        Pyz::open(t.path("custom.pyz")).shebang(),
        "#!/opt/py/bin/python3 -sE"
    );
}
