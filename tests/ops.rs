//! Operating rshiv's files: `rshiv info` (human, JSON, SBOM) on real builds and on files
//! that are not pyz files, `rshiv cache list|clean|prune` against real runs (including a
//! clean while a pyz is running), `[tool.rshiv]` in pyproject.toml, and the deployment
//! example's systemd units (checked with `systemd-analyze verify` when it is installed).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::python;
use crate::support::{greet, on_path, Project, Pyz, Test, Wheel};

/// A payload whose entry point says it is ready, then runs until its stdin closes: a
/// stand-in for a service.
fn waiter() -> Wheel {
    Wheel::new("waiter", "1.0").file(
        "waiter.py",
        "import sys\n\n\ndef main():\n    print('ready', flush=True)\n    sys.stdin.read()\n",
    )
}

/// Build `greet` into `OUT` with `-e greet:main`.
fn build_greet(t: &Test, out: &str) {
    let wheels = t.wheels(&[greet()]);
    t.build(&["greet", "-e", "greet:main", "-o", out], &wheels)
        .success();
}

fn build_id(t: &Test, pyz: &str) -> String {
    Pyz::open(t.path(pyz)).environment()["build_id"]
        .as_str()
        .expect("build_id is a string")
        .to_owned()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// A pyz started with `python3.11 PYZ`, stdin a pipe, until dropped; ready once it printed.
struct Running(std::process::Child);

impl Running {
    #[track_caller]
    fn start(t: &Test, python: &Path, pyz: &str) -> Self {
        let mut child = std::process::Command::new(python)
            .arg(t.path(pyz))
            .env("RSHIV_ROOT", t.root())
            .env_remove("SHIV_ROOT")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the pyz");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("read the pyz's first line");
        assert_eq!(line.trim(), "ready");
        Running(child)
    }

    fn still_running(&mut self) -> bool {
        self.0.try_wait().expect("poll the pyz").is_none()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

// rshiv info

/// The human view names the entry point, shebang, build id, sizes, needs and distributions.
#[test]
fn info_describes_a_built_pyz() {
    let t = Test::new();
    build_greet(&t, "app.pyz");
    let id = build_id(&t, "app.pyz");
    t.rshiv()
        .args(["info", "app.pyz"])
        .run()
        .success()
        .stdout_contains("app.pyz: an rshiv zip app (rshiv-1, rshiv ")
        .stdout_contains("\n  entry point  greet:main\n")
        .stdout_contains("\n  shebang      #!/usr/bin/env python3\n")
        .stdout_contains(&format!("\n  build id     {id}\n"))
        .stdout_contains("\n  built at     1980-01-01 00:00:00\n")
        .stdout_contains("\n  needs        pure Python\n")
        .stdout_contains("\n1 distribution\n  NAME   VERSION  LICENSE\n  greet  1.0      MIT\n");
}

/// `--json` holds every environment.json field and the distributions.
#[test]
fn info_json_has_the_environment_and_the_distributions() {
    let t = Test::new();
    build_greet(&t, "app.pyz");
    let environment = Pyz::open(t.path("app.pyz")).environment();
    let out = t.rshiv().args(["info", "--json", "app.pyz"]).run();
    let info = json(&out.success().stdout);
    for (key, value) in environment
        .as_object()
        .expect("environment.json is an object")
    {
        if key != "distributions" {
            assert_eq!(&info[key], value, "field {key}");
        }
    }
    assert_eq!(info["entry_point"], "greet:main");
    assert_eq!(
        info["size"],
        std::fs::metadata(t.path("app.pyz")).unwrap().len()
    );
    assert_eq!(info["needs"], "pure Python");
    let dists = info["distributions"]
        .as_array()
        .expect("distributions is an array");
    assert_eq!(dists.len(), 1);
    assert_eq!(dists[0]["name"], "greet");
    assert_eq!(dists[0]["version"], "1.0");
    for key in ["license", "summary"] {
        assert!(dists[0].get(key).is_some(), "distribution without {key}");
    }
}

/// A payload with a compiled wheel says what it needs.
#[test]
fn info_names_what_a_native_payload_needs() {
    let t = Test::new();
    let native = Wheel::new("fast", "2.0")
        .file("fast/__init__.py", "")
        .tag("cp311-cp311-manylinux_2_17_x86_64");
    let wheels = t.wheels(&[greet(), native]);
    t.build(
        &["greet", "fast", "-e", "greet:main", "-o", "app.pyz"],
        &wheels,
    )
    .success();
    t.rshiv()
        .args(["info", "app.pyz"])
        .run()
        .success()
        .stdout_contains("\n  needs        cp311 manylinux_2_17 x86_64\n")
        .stdout_contains("\n  fast   2.0 ");
}

/// `--sbom FILE` writes a CycloneDX 1.5 BOM; `--sbom -` prints the same one.
#[test]
fn info_sbom_is_cyclonedx_and_deterministic() {
    let t = Test::new();
    build_greet(&t, "app.pyz");
    let id = build_id(&t, "app.pyz");
    t.rshiv()
        .args(["info", "--sbom", "app.cdx.json", "app.pyz"])
        .run()
        .success()
        .stderr_contains("app.cdx.json");
    let bom = json(&String::from_utf8(t.read("app.cdx.json")).unwrap());
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    assert!(bom["serialNumber"]
        .as_str()
        .unwrap()
        .starts_with("urn:uuid:"));
    assert_eq!(bom["metadata"]["component"]["type"], "application");
    assert_eq!(bom["metadata"]["component"]["name"], "app");
    assert_eq!(bom["metadata"]["component"]["version"], id.as_str());
    assert_eq!(bom["components"][0]["type"], "library");
    assert_eq!(bom["components"][0]["purl"], "pkg:pypi/greet@1.0");
    let again = t.rshiv().args(["info", "--sbom", "-", "app.pyz"]).run();
    assert_eq!(json(&again.success().stdout), bom);
}

/// `rshiv info` reads files built by shiv (layout: site-packages/ in the outer zip).
#[test]
fn info_reads_a_shiv_layout() {
    let t = Test::new();
    let script = "import zipfile, json, sys\n\
        with open(sys.argv[1], 'wb') as f:\n    f.write(b'#!/usr/bin/env python3\\n')\n\
        with zipfile.ZipFile(sys.argv[1], 'a') as z:\n\
        \x20   z.writestr('site-packages/greet-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: greet\\nVersion: 1.0\\nLicense: MIT\\n')\n\
        \x20   z.writestr('site-packages/greet/__init__.py', '')\n\
        \x20   z.writestr('environment.json', json.dumps({'shiv_version': '1.0.8', 'build_id': 'ab' * 32, 'built_at': '2024-05-01 12:00:00', 'entry_point': 'greet:main', 'script': None}))\n";
    t.command("python3")
        .args(["-c", script, "shiv.pyz"])
        .run()
        .success();
    t.rshiv()
        .args(["info", "shiv.pyz"])
        .run()
        .success()
        .stdout_contains("shiv.pyz: a shiv zip app (shiv 1.0.8)\n")
        .stdout_contains("  greet  1.0      MIT\n");
}

/// Not a pyz: one line naming the file, non-zero exit.
#[test]
fn info_on_something_else_is_one_clear_error() {
    let t = Test::new();
    let text = t.write("foo", "#!/bin/sh\necho hi\n");
    t.rshiv()
        .args(["info", "foo"])
        .run()
        .failure()
        .stderr_contains(
            "rshiv: error: not a zip application: foo (no zip central directory found)",
        );
    let zip = "import zipfile, sys\nzipfile.ZipFile(sys.argv[1], 'w').writestr('a.txt', 'a')\n";
    t.command("python3")
        .args(["-c", zip, "plain.zip"])
        .run()
        .success();
    t.rshiv()
        .args(["info", "plain.zip"])
        .run()
        .failure()
        .stderr_contains(
            "not a zip application built by rshiv or shiv: plain.zip (no environment.json)",
        );
    t.rshiv()
        .args(["info", "missing.pyz"])
        .run()
        .failure()
        .stderr_contains("missing.pyz");
    assert!(text.exists());
}

// rshiv cache

/// After a run, `cache list` shows the extraction; `--json` is an array of objects.
#[test]
fn cache_list_shows_a_run() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, "app.pyz");
    let id = build_id(&t, "app.pyz");
    t.pyz(&python, "app.pyz").run().success();
    let out = t.rshiv().args(["cache", "list"]).run();
    let lines = out.success().lines();
    assert!(
        lines[0].starts_with("APP  BUILD ID      SIZE "),
        "{lines:?}"
    );
    assert!(lines[0].ends_with("  LAST USED  STATE"), "{lines:?}");
    assert!(
        lines[1].starts_with(&format!("app  {}  ", &id[..12])),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("  just now   idle"), "{lines:?}");
    assert!(lines[2].starts_with("1 entry, "), "{lines:?}");
    let list = json(
        &t.rshiv()
            .args(["cache", "list", "--json"])
            .run()
            .success()
            .stdout,
    );
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "app");
    assert_eq!(list[0]["build_id"], id.as_str());
    assert_eq!(list[0]["in_use"], false);
    assert!(list[0]["size"].as_u64().unwrap() > 0);
    assert!(list[0]["last_used"].as_str().unwrap().ends_with('Z'));
}

/// `cache clean` while a pyz runs: the running one is skipped and keeps running; once it
/// stopped, the next clean removes it.
#[test]
fn cache_clean_never_removes_what_a_running_pyz_uses() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[waiter(), greet()]);
    t.build(
        &["waiter", "-e", "waiter:main", "-o", "waiter.pyz"],
        &wheels,
    )
    .success();
    build_greet(&t, "app.pyz");
    t.pyz(&python, "app.pyz").run().success();
    let busy = t.extraction("waiter.pyz");
    let idle = t.extraction("app.pyz");
    let mut running = Running::start(&t, &python, "waiter.pyz");

    t.rshiv()
        .args(["cache", "list"])
        .run()
        .success()
        .stdout_contains("in use");
    t.rshiv()
        .args(["cache", "clean", "--dry-run"])
        .run()
        .success()
        .stdout_contains("would remove app_");
    assert!(idle.exists(), "a dry run removes nothing");
    t.rshiv()
        .args(["cache", "clean"])
        .run()
        .success()
        .stdout_contains(&format!(
            "skipped waiter_{}: in use",
            &build_id(&t, "waiter.pyz")[..12]
        ))
        .stdout_contains("removed app_")
        .stdout_contains(": 1 removed, 1 skipped");
    assert!(busy.join("site-packages").exists());
    assert!(!idle.exists());
    assert!(running.still_running());
    drop(running);

    t.rshiv()
        .args(["cache", "clean"])
        .run()
        .success()
        .stdout_contains("removed waiter_");
    assert!(!busy.exists());
    // The next run extracts again and works.
    t.pyz(&python, "app.pyz").run().success();
}

/// `cache prune --keep-latest 1` keeps the most recently used build of each app.
#[test]
fn cache_prune_keeps_the_latest_build_per_app() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet(), waiter()]);
    t.build(&["greet", "-e", "greet:main", "-o", "app.pyz"], &wheels)
        .success();
    t.pyz(&python, "app.pyz").run().success();
    let old = t.extraction("app.pyz");
    let marker = std::fs::File::options()
        .write(true)
        .open(old.join(".rshiv-ready"))
        .unwrap();
    marker
        .set_modified(SystemTime::now() - Duration::from_secs(3 * 86_400))
        .unwrap();
    // Another payload, so another build id and another extraction.
    t.build(
        &["greet", "waiter", "-e", "greet:main", "-o", "app.pyz"],
        &wheels,
    )
    .success();
    t.pyz(&python, "app.pyz").run().success();
    let new = t.extraction("app.pyz");
    assert_ne!(old, new);

    t.rshiv()
        .args(["cache", "prune", "--older-than", "4d"])
        .run()
        .success()
        .stdout_contains("nothing to remove");
    t.rshiv()
        .args(["cache", "prune", "--keep-latest", "1"])
        .run()
        .success()
        .stdout_contains("removed app_");
    assert!(!old.exists() && new.exists());
}

/// prune without a rule, or with a bad duration: one clear error, a usage error (exit 2).
#[test]
fn cache_prune_bad_input() {
    let t = Test::new();
    t.rshiv()
        .args(["cache", "prune"])
        .run()
        .code(2)
        .stderr_contains("--older-than");
    t.rshiv()
        .args(["cache", "prune", "--older-than", "3x"])
        .run()
        .code(2)
        .stderr_contains("invalid duration `3x`");
}

/// The default root is the runtime's: RSHIV_ROOT, else SHIV_ROOT; a missing root is empty.
#[test]
fn cache_uses_the_runtimes_root() {
    let t = Test::new();
    t.mkdir("shiv-root/app_123/site-packages");
    t.rshiv()
        .env_remove("RSHIV_ROOT")
        .env("SHIV_ROOT", t.path("shiv-root"))
        .args(["cache", "list", "--json"])
        .run()
        .success()
        .stdout_contains("\"kind\": \"shiv\"");
    t.rshiv()
        .args(["cache", "list", "--json"])
        .run()
        .success()
        .stdout_is("[]\n");
    t.rshiv()
        .args(["cache", "clean"])
        .run()
        .success()
        .stdout_contains("nothing to remove");
}

// [tool.rshiv]

/// `rshiv` alone builds a project whose pyproject.toml says how.
#[test]
fn config_in_pyproject_builds_with_rshiv_alone() {
    let python = python!(11);
    let t = Test::new();
    let dir = Project::new("hello", "1.0")
        .file("hello.py", "def main():\n    print('hello from config')\n")
        .console_script("hello", "hello:main")
        .write(&t.path("project"));
    let pyproject = dir.join("pyproject.toml");
    let mut text = std::fs::read_to_string(&pyproject).unwrap();
    text.push_str("\n[tool.rshiv]\nconsole-script = \"hello\"\noutput-file = \"hello.pyz\"\nrequirements = [\".\"]\n");
    std::fs::write(&pyproject, text).unwrap();
    t.rshiv()
        .current_dir(&dir)
        .arg("--no-index")
        .run()
        .success();
    t.pyz(&python, "project/hello.pyz")
        .run()
        .success()
        .stdout_is("hello from config\n");
}

/// A misspelt key is an error naming it and the file.
#[test]
fn config_unknown_key_is_an_error() {
    let t = Test::new();
    t.write(
        "project/pyproject.toml",
        "[tool.rshiv]\nentry_point = \"app:main\"\n",
    );
    t.rshiv()
        .current_dir(t.path("project"))
        .run()
        .failure()
        .stderr_contains("unknown key `entry_point` in [tool.rshiv] of ")
        .stderr_contains("pyproject.toml; did you mean `entry-point`?");
    assert!(!t.path("project/dist").exists());
}

// The deployment example

/// The example's units pass `systemd-analyze verify` (skipped where it is not installed).
#[test]
fn deploy_units_verify() {
    let Some(analyze) = on_path("systemd-analyze") else {
        eprintln!("skipped: systemd-analyze not found");
        return;
    };
    let t = Test::new();
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/simple_api/deploy");
    let mut units = Vec::new();
    for name in [
        "simple_api.service",
        "simple_api-cache-prune.service",
        "simple_api-cache-prune.timer",
    ] {
        let text = std::fs::read_to_string(deploy.join(name)).unwrap();
        // The prune unit runs rshiv from /usr/local/bin on a server; here, the built one.
        let text = text.replace("/usr/local/bin/rshiv", env!("CARGO_BIN_EXE_rshiv"));
        units.push(t.write(format!("units/{name}"), text));
    }
    let started = Instant::now();
    t.command(analyze)
        .arg("verify")
        .args(&units)
        .run()
        .success()
        .stderr_lacks("simple_api");
    assert!(started.elapsed() < Duration::from_secs(60));
}
