//! Native console scripts: a `bin/NAME` that is a compiled executable or a non-Python `#!`
//! script is exec'd in place of the bootstrap, as a direct run of it would behave (output,
//! exit status, stdin, signals), and its extraction stays locked against `rshiv cache clean`.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{greet, wait_exit, Pyz, Test};
use crate::{every_cpython, python, require_on_ci};

/// A shell-free C program: prints its pid and argv, then by its first argument copies stdin
/// (`cat`), waits for stdin to close (`wait`) or writes until stdout breaks (`flood`);
/// exits 3.
const TOOL_C: &str = r#"#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    printf("pid=%d\n", (int)getpid());
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    fflush(stdout);
    if (strcmp(mode, "cat") == 0) {
        char buf[4096];
        ssize_t n;
        while ((n = read(0, buf, sizeof buf)) > 0)
            fwrite(buf, 1, (size_t)n, stdout);
    } else if (strcmp(mode, "wait") == 0) {
        char c;
        while (read(0, &c, 1) > 0) {
        }
    } else if (strcmp(mode, "flood") == 0) {
        while (puts("y") >= 0) {
        }
    }
    return 3;
}
"#;

/// Compile [`TOOL_C`] with the C compiler on PATH into the test's directory.
fn compile_tool(t: &Test) -> Option<PathBuf> {
    let source = t.write("tool.c", TOOL_C);
    let binary = t.path("tool");
    for compiler in ["cc", "gcc"] {
        let status = Command::new(compiler)
            .args(["-O", "-o"])
            .arg(&binary)
            .arg(&source)
            .status();
        if status.is_ok_and(|status| status.success()) {
            return Some(binary);
        }
    }
    None
}

/// The C tool, or skip (fail under CI=true) when no C compiler works.
macro_rules! tool {
    ($t:expr) => {
        require_on_ci!(
            compile_tool($t),
            "no working C compiler (cc or gcc) on PATH"
        )
    };
}

/// Build greet with the tool as its script `bin/native-tool`, with `-c native-tool`.
fn build_native(t: &Test, tool: &Path, out: &str) {
    let binary = std::fs::read(tool).expect("read the compiled tool");
    let wheels = t.wheels(&[greet().script("native-tool", binary)]);
    t.build(&["greet", "-c", "native-tool", "-o", out], &wheels)
        .success();
}

/// `python PYZ ARGS...` with the test's environment, stdin and stdout piped.
fn start(t: &Test, python: &Path, pyz: &str, args: &[&str]) -> Child {
    Command::new(python)
        .arg(t.path(pyz))
        .args(args)
        .env("RSHIV_ROOT", t.root())
        .env("TMPDIR", t.path("tmp"))
        .env_remove("SHIV_ROOT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the pyz")
}

/// The child's first `n` lines of stdout.
fn read_lines(child: &mut Child, n: usize) -> Vec<String> {
    let stdout = child.stdout.as_mut().expect("stdout is piped");
    let mut reader = BufReader::new(stdout);
    (0..n)
        .map(|_| {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read a line");
            line.trim_end().to_owned()
        })
        .collect()
}

/// A native `bin/NAME` runs as itself: its argv (the script's name, then the arguments),
/// exit status 3, stdin passed through, the run bit kept in the payload and the extraction,
/// on a first and a warm run; SHIV_ENTRY_POINT and SHIV_CONSOLE_SCRIPT still override.
#[test]
fn native_console_script_runs_in_place() {
    let python = python!(11);
    let t = Test::new();
    let tool = tool!(&t);
    build_native(&t, &tool, "native.pyz");
    let member = Pyz::open(t.path("native.pyz")).payload_file("bin/native-tool");
    assert_eq!(member.mode, Some(0o100755));

    for run in ["first", "warm"] {
        let out = t.pyz(&python, "native.pyz").args(["a b", "--flag"]).run();
        out.code(3);
        assert_eq!(
            out.lines()[1..],
            ["argv[0]=native-tool", "argv[1]=a b", "argv[2]=--flag"],
            "{run} run"
        );
    }
    let extracted = t
        .extraction("native.pyz")
        .join("site-packages/bin/native-tool");
    let mode = std::fs::metadata(&extracted)
        .expect("the tool is extracted")
        .permissions();
    assert_eq!(mode.mode() & 0o111, 0o111, "{}", extracted.display());

    t.pyz(&python, "native.pyz")
        .arg("cat")
        .stdin("line one\nline two\n")
        .run()
        .code(3)
        .stdout_contains("argv[1]=cat\nline one\nline two\n");
    t.pyz(&python, "native.pyz")
        .env("SHIV_ENTRY_POINT", "greet:main")
        .run()
        .success()
        .stdout_is("hello from greet\n");

    let wheels = t.path("wheels");
    t.build(&["greet", "-e", "greet:main", "-o", "plain.pyz"], &wheels)
        .success();
    let out = t
        .pyz(&python, "plain.pyz")
        .env("SHIV_CONSOLE_SCRIPT", "native-tool")
        .arg("x")
        .run();
    out.code(3);
    assert_eq!(out.lines()[1..], ["argv[0]=native-tool", "argv[1]=x"]);
}

/// Signals reach the tool as they would a direct run: it has the pyz's pid (exec, not a
/// child), SIGTERM kills it, and a closed stdout kills it with SIGPIPE (which Python ignores
/// and must not pass on).
#[test]
fn native_console_script_gets_signals_like_a_direct_run() {
    let python = python!(11);
    let t = Test::new();
    let tool = tool!(&t);
    build_native(&t, &tool, "native.pyz");

    let mut direct = Command::new(&tool)
        .arg("wait")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the tool");
    let mut child = start(&t, &python, "native.pyz", &["wait"]);
    for process in [&mut direct, &mut child] {
        let lines = read_lines(process, 1);
        assert_eq!(lines[0], format!("pid={}", process.id()));
        let kill = Command::new("kill")
            .args(["-TERM", &process.id().to_string()])
            .status()
            .expect("run kill");
        assert!(kill.success());
        let status = wait_exit(process, "the tool", Duration::from_secs(30));
        assert_eq!(status.signal(), Some(15), "{status:?}");
    }

    let mut direct = Command::new(&tool)
        .arg("flood")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the tool");
    let mut child = start(&t, &python, "native.pyz", &["flood"]);
    for process in [&mut direct, &mut child] {
        let mut first = [0u8; 4];
        process
            .stdout
            .as_mut()
            .expect("stdout is piped")
            .read_exact(&mut first)
            .expect("read the tool's first bytes");
        drop(process.stdout.take());
        let status = wait_exit(process, "the tool", Duration::from_secs(30));
        assert_eq!(status.signal(), Some(13), "{status:?}");
    }
}

/// The exec hands the extraction's LOCK_SH over to the tool: `rshiv cache clean` skips the
/// tree while the tool runs, and removes it once the tool has exited.
#[test]
fn cache_clean_spares_a_running_native_script() {
    let python = python!(11);
    let t = Test::new();
    let tool = tool!(&t);
    build_native(&t, &tool, "native.pyz");
    let extraction = t.extraction("native.pyz");
    for run in ["first", "warm"] {
        let mut child = start(&t, &python, "native.pyz", &["wait"]);
        read_lines(&mut child, 1);
        t.rshiv()
            .args(["cache", "clean"])
            .run()
            .success()
            .stdout_contains("in use");
        assert!(
            extraction.join("site-packages/bin/native-tool").exists(),
            "{run} run"
        );
        drop(child.stdin.take());
        let status = wait_exit(&mut child, "the tool", Duration::from_secs(30));
        assert_eq!(status.code(), Some(3));
    }
    t.rshiv()
        .args(["cache", "clean"])
        .run()
        .success()
        .stdout_contains("removed native_");
    assert!(!extraction.exists());
}

/// A `#!/bin/sh` script runs under its shell; the `/bin/sh` trampoline installers write for a
/// long python path, and `#!python`, run as Python on the pyz's interpreter.
#[test]
fn shebang_decides_between_the_kernel_and_python() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()
        .script("shell-tool", "#!/bin/sh\necho \"sh $(basename \"$0\") $*\"\nexit 4\n")
        .script(
            "trampoline",
            "#!/bin/sh\n'''exec' /no/such/python \"$0\" \"$@\"\n' '''\nimport greet\ngreet.main()\n",
        )
        .script("plain", "#!python\nimport sys\nprint('python', sys.argv[1:])\n")]);
    for name in ["shell-tool", "trampoline", "plain"] {
        t.build(
            &["greet", "-c", name, "-o", &format!("{name}.pyz")],
            &wheels,
        )
        .success();
    }
    t.pyz(&python, "shell-tool.pyz")
        .args(["one", "two"])
        .run()
        .code(4)
        .stdout_is("sh shell-tool one two\n");
    t.pyz(&python, "trampoline.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
    t.pyz(&python, "plain.pyz")
        .arg("x")
        .run()
        .success()
        .stdout_is("python ['x']\n");
}

/// Every CPython from 3.8 to 3.13 execs the tool: its argv and exit status 3 on a first run,
/// and SIGPIPE back to its default on a warm one.
fn every_python_execs_the_tool(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    let tool = tool!(&t);
    build_native(&t, &tool, "native.pyz");
    let out = t.pyz(&python, "native.pyz").arg("x").run();
    out.code(3);
    assert_eq!(out.lines()[1..], ["argv[0]=native-tool", "argv[1]=x"]);
    let mut child = start(&t, &python, "native.pyz", &["flood"]);
    read_lines(&mut child, 1);
    drop(child.stdout.take());
    let status = wait_exit(&mut child, "the tool", Duration::from_secs(30));
    assert_eq!(status.signal(), Some(13), "{status:?}");
}
every_cpython!(every_python_execs_the_tool);

/// A native `bin/NAME` without its run bit (a `--site-packages` tree copied without modes) is
/// one clear error naming the file, not a traceback.
#[test]
fn native_script_without_run_bit_is_one_clear_error() {
    let python = python!(11);
    let t = Test::new();
    let tool = tool!(&t);
    t.write(
        "sp/bin/native-tool",
        std::fs::read(&tool).expect("read the tool"),
    );
    std::fs::set_permissions(
        t.path("sp/bin/native-tool"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("drop the run bit");
    t.rshiv()
        .args(["--site-packages", "sp", "-c", "native-tool", "-o", "x.pyz"])
        .run()
        .success();
    t.pyz(&python, "x.pyz")
        .run()
        .code(1)
        .stderr_line_with(&[
            "rshiv: error: cannot run",
            "bin/native-tool",
            "Permission denied",
        ])
        .stderr_lacks("Traceback");
}
