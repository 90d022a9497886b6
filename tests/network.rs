//! The one module that uses the package index: the seed tutorial's FastAPI service
//! (`examples/simple_api`), built as a user would and served on a loopback port, and ruff,
//! whose console script is a native executable.
//! `RSHIV_TEST_OFFLINE=1` skips it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{Installer, Test};
use crate::{python, uv};

/// Copy `examples/simple_api` into the test's directory, so that the build's leftovers
/// (`build/`, `*.egg-info`) stay out of the checkout.
pub fn copy_example(t: &Test) -> std::path::PathBuf {
    copy_example_named(t, "simple_api")
}

/// Copy `examples/<name>` into the test's directory (see [`copy_example`]).
pub fn copy_example_named(t: &Test, name: &str) -> std::path::PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let dest = t.path(name);
    for entry in walkdir::WalkDir::new(&source) {
        let entry = entry.expect("walk the example");
        let relative = entry
            .path()
            .strip_prefix(&source)
            .expect("under the example");
        let target = dest.join(relative);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("create a directory of the copy");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file of the example");
        }
    }
    dest
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// `GET /` on the port, once it answers; the response body.
fn get_root(port: u16, deadline: Duration) -> String {
    let started = Instant::now();
    loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("set a read timeout");
            stream
                .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .expect("send the request");
            let mut response = String::new();
            stream
                .read_to_string(&mut response)
                .expect("read the response");
            let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
            assert!(head.starts_with("HTTP/1.1 200"), "{response}");
            return body.to_owned();
        }
        assert!(
            started.elapsed() < deadline,
            "nothing listened on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `RSHIV_TEST_OFFLINE=1` keeps the tests off the package index (and says so).
pub fn offline() -> bool {
    let offline = std::env::var_os("RSHIV_TEST_OFFLINE").is_some_and(|v| v == "1");
    if offline {
        eprintln!("skipped: RSHIV_TEST_OFFLINE=1");
    }
    offline
}

/// `rshiv -c simple_api -o api.pyz` in the example's directory, then serve and ask.
fn simple_api_serves_hello_world(installer: Installer) {
    if offline() {
        return;
    }
    let python = python!(11);
    if installer == Installer::Uv {
        let _ = uv!();
    }
    let t = Test::new();
    let example = copy_example(&t);
    t.rshiv()
        .current_dir(&example)
        .installer(installer)
        .args(["-c", "simple_api", "-o", "api.pyz"])
        .run()
        .success()
        .stderr_line_with(&["project", &example.to_string_lossy()]);
    serves_hello_world(&t, &python, &example.join("api.pyz"));
}

/// Serve `pyz` with `python` on a free loopback port as the card does, and check that
/// `GET /` answers `{"Hello": "World"}`; the server's output is shown when it does not.
pub fn serves_hello_world(t: &Test, python: &Path, pyz: &Path) {
    let port = free_port();
    let mut server = t
        .pyz(python, pyz)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .spawn(&t.path("server.log"));
    let body = std::panic::catch_unwind(|| get_root(port, Duration::from_secs(120)));
    let _ = server.kill();
    let _ = server.wait();
    let body = body.unwrap_or_else(|panic| {
        let log = String::from_utf8_lossy(&t.read("server.log")).into_owned();
        eprintln!("--- server output:\n{log}");
        std::panic::resume_unwind(panic)
    });
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(json, serde_json::json!({"Hello": "World"}));
}

#[test]
fn simple_api_with_uv() {
    simple_api_serves_hello_world(Installer::Uv);
}

#[test]
fn simple_api_with_pip() {
    simple_api_serves_hello_world(Installer::Pip);
}

/// `rshiv -c ruff -o ruff.pyz ruff`: ruff's wheel ships `bin/ruff` as a native executable,
/// which the pyz execs (it used to be run as Python: "source code string cannot contain null
/// bytes"); `--version` and a `check` that finds an unused import (exit 1) both work.
#[test]
fn ruff_runs_as_a_native_console_script() {
    if offline() {
        return;
    }
    let python = python!(11);
    let t = Test::new();
    t.rshiv()
        .installer(Installer::preferred())
        .args(["-c", "ruff", "-o", "ruff.pyz", "ruff"])
        .run()
        .success();
    let out = t.pyz(&python, "ruff.pyz").arg("--version").run();
    out.success().stdout_contains("ruff ");
    t.write("bad.py", "import os\n");
    t.pyz(&python, "ruff.pyz")
        .args(["check", "--no-cache", "--select", "F401", "bad.py"])
        .run()
        .code(1)
        .stdout_contains("F401");
}
