//! Multi-target builds (issue 14): one pyz for several Python versions and platforms,
//! each target resolved on its own, files they share stored once, `_rshiv/targets.txt`
//! naming each target's tree; `rshiv info` showing them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;

use serde_json::Value;

use crate::support::pyz::PAYLOAD;
use crate::support::{Installer, Output, Project, Pyz, Test, Wheel};

/// Per target of `_rshiv/targets.txt`: build id, missing paths, variant index by path.
type TargetFiles = (String, BTreeSet<String>, BTreeMap<String, u32>);

/// `_rshiv/targets.txt` read as the format of `src/archive/fleet.rs` describes it.
fn manifest_targets(data: &[u8]) -> Vec<TargetFiles> {
    let text = std::str::from_utf8(data).unwrap();
    let mut lines = text.strip_suffix('\n').unwrap().split('\n');
    assert_eq!(lines.next(), Some("rshiv-targets 1"));
    let mut targets: Vec<TargetFiles> = Vec::new();
    for line in lines {
        let (kind, rest) = line.split_once(' ').unwrap();
        match kind {
            "target" => targets.push((rest.to_string(), BTreeSet::new(), BTreeMap::new())),
            "missing" => assert!(targets.last_mut().unwrap().1.insert(rest.to_string())),
            "variant" => {
                let (i, path) = rest.split_once(' ').unwrap();
                let variants = &mut targets.last_mut().unwrap().2;
                variants.insert(path.to_string(), i.parse().unwrap());
            }
            _ => panic!("unknown line {line:?}"),
        }
    }
    targets
}

/// `pick` 1.0 for Python < 3.9 and 2.0 for 3.9+, each saying which it is, and `shared`,
/// the same for every target; `--find-links` dir of them.
fn fleet_wheels(t: &Test) -> std::path::PathBuf {
    let pick = |version: &str, requires: &str| {
        Wheel::new("pick", version)
            .requires_python(requires)
            .dependency("shared")
            .file(
                "pick/__init__.py",
                format!("def main():\n    print('pick {version}')\n"),
            )
    };
    let shared = Wheel::new("shared", "1.0")
        .file("shared/__init__.py", "NAME = 'shared'\n".repeat(200))
        .file(
            "shared/data.txt",
            "some data shared by all targets\n".repeat(500),
        );
    t.wheels(&[pick("1.0", "<3.9"), pick("2.0", ">=3.9"), shared])
}

/// `rshiv --no-index --find-links WHEELS ARGS pick -e pick:main -o OUT`.
fn build(t: &Test, wheels: &Path, args: &[&str], out: &str) -> Output {
    t.rshiv()
        .args(["--no-index", "--find-links"])
        .arg(wheels)
        .installer(Installer::preferred())
        .args(args)
        .args(["pick", "-e", "pick:main", "-o", out])
        .run()
}

fn info_json(t: &Test, pyz: &str) -> Value {
    let output = t.rshiv().arg("info").arg("--json").arg(t.path(pyz)).run();
    output.success();
    serde_json::from_slice(output.stdout.as_bytes()).expect("info --json prints JSON")
}

/// `name version` of each distribution of a target (or of the top level).
fn versions(distributions: &Value) -> Vec<String> {
    distributions
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["name"].as_str().unwrap(),
                d["version"].as_str().unwrap()
            )
        })
        .collect()
}

/// Payload member name -> (compressed size, contents), read with the zip crate.
fn payload_entries(pyz: &Pyz) -> BTreeMap<String, (u64, Vec<u8>)> {
    let data = &pyz.outer_member(PAYLOAD).data;
    let mut archive = zip::ZipArchive::new(Cursor::new(data)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut contents = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut contents).unwrap();
        out.insert(file.name().to_string(), (file.compressed_size(), contents));
    }
    out
}

/// Each target gets the version a build for it alone gets; the shared package is stored
/// once; each target's build id is its single-target build's; targets.txt describes the
/// trees; and the pyz is within 110% of the single builds' distinct files.
#[test]
fn each_target_is_resolved_on_its_own_and_shared_files_stored_once() {
    let t = Test::new();
    let wheels = fleet_wheels(&t);
    let multi = build(
        &t,
        &wheels,
        &["--python-version", "3.8", "--python-version", "3.12"],
        "fleet.pyz",
    );
    multi
        .success()
        .stderr_line_with(&["installing for CPython 3.8 on linux_"])
        .stderr_line_with(&["installing for CPython 3.12 on linux_"]);
    build(&t, &wheels, &["--python-version", "3.8"], "p38.pyz").success();
    build(&t, &wheels, &["--python-version", "3.12"], "p312.pyz").success();

    let info = info_json(&t, "fleet.pyz");
    let targets = info["targets"].as_array().expect("targets in info --json");
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[0]["python"], "3.8");
    assert_eq!(targets[1]["python"], "3.12");
    let platform = format!("linux_{}", std::env::consts::ARCH);
    assert_eq!(targets[0]["platform"], platform.as_str());
    assert_eq!(
        versions(&targets[0]["distributions"]),
        ["pick 1.0", "shared 1.0"]
    );
    assert_eq!(
        versions(&targets[1]["distributions"]),
        ["pick 2.0", "shared 1.0"]
    );
    assert_eq!(versions(&info["distributions"]), ["pick 1.0", "shared 1.0"]);
    let singles = ["p38.pyz", "p312.pyz"].map(|name| Pyz::open(t.path(name)));
    for (target, single) in targets.iter().zip(&singles) {
        assert_eq!(target["build_id"], single.environment()["build_id"]);
        assert_eq!(target["files"], single.environment()["files"]);
    }

    let fleet = Pyz::open(t.path("fleet.pyz"));
    let names = fleet.outer_names();
    let at = names
        .iter()
        .position(|n| *n == "_rshiv/targets.txt")
        .unwrap();
    assert_eq!(
        names[at + 1..],
        ["__main__.py", "__main__.pyc", "environment.json"]
    );
    let manifest = manifest_targets(&fleet.outer_member("_rshiv/targets.txt").data);

    // Every distinct (path, contents) of the single builds is one member, shared ones once.
    let entries = payload_entries(&fleet);
    let single_entries = singles.each_ref().map(payload_entries);
    let distinct: BTreeSet<(&String, &Vec<u8>)> = single_entries
        .iter()
        .flat_map(|e| e.iter().map(|(name, (_, data))| (name, data)))
        .collect();
    assert_eq!(entries.len(), distinct.len(), "{:?}", entries.keys());
    assert!(entries.contains_key("shared/data.txt"));
    assert!(!entries
        .keys()
        .any(|n| n.starts_with("_rshiv/") && n.contains("shared/")));

    // targets.txt rebuilds each single build's tree exactly.
    assert_eq!(manifest.len(), single_entries.len());
    for (k, single) in single_entries.iter().enumerate() {
        let (build_id, missing, variants) = &manifest[k];
        assert_eq!(targets[k]["build_id"], build_id.as_str());
        let mut tree = BTreeMap::new();
        for (name, (_, data)) in &entries {
            if name.starts_with("_rshiv/") || missing.contains(name) {
                continue;
            }
            let member = match variants.get(name) {
                Some(i) => format!("_rshiv/{i}/{name}"),
                None => name.clone(),
            };
            let data = if member == *name {
                data
            } else {
                &entries[&member].1
            };
            tree.insert(name.clone(), data.clone());
        }
        let expected: BTreeMap<String, Vec<u8>> = single
            .iter()
            .map(|(name, (_, data))| (name.clone(), data.clone()))
            .collect();
        assert_eq!(tree, expected, "target {k}");
    }

    // Size: the multi-target pyz against one single build plus the other's files the first
    // lacks (their stored bytes and zip headers): the sum of the distinct files.
    let header = |name: &str| 30 + 46 + 2 * name.len() as u64;
    let extra: u64 = single_entries[1]
        .iter()
        .filter(|(name, (_, data))| single_entries[0].get(*name).map(|e| &e.1) != Some(data))
        .map(|(name, (size, _))| size + header(name))
        .sum();
    let sum = singles[0].bytes.len() as u64 + extra;
    let size = fleet.bytes.len() as u64;
    eprintln!(
        "multi-target pyz {size} bytes; distinct files of the single builds {sum} bytes ({:.1}%)",
        100.0 * size as f64 / sum as f64
    );
    assert!(size * 100 <= sum * 110, "{size} > 110% of {sum}");

    let human = t.rshiv().arg("info").arg(t.path("fleet.pyz")).run();
    human
        .success()
        .stdout_contains("2 targets")
        .stdout_contains(&format!("CPython 3.8 on {platform}"))
        .stdout_contains("pick    2.0");
}

/// One `--python-version` is the single-target build of before: no targets anywhere.
#[test]
fn one_target_is_a_single_target_pyz() {
    let t = Test::new();
    let wheels = fleet_wheels(&t);
    build(&t, &wheels, &["--python-version", "3.12"], "one.pyz")
        .success()
        .stderr_lacks("installing for");
    let pyz = Pyz::open(t.path("one.pyz"));
    assert!(!pyz.outer_names().contains(&"_rshiv/targets.txt"));
    assert!(pyz.environment().get("targets").is_none());
    let stub = String::from_utf8(pyz.outer_member("_rshiv/stub.py").data.clone()).unwrap();
    let baked = stub.lines().find(|l| l.starts_with("_BAKED = ")).unwrap();
    assert!(!baked.contains("\"targets\""), "{baked}");
}

/// A target no distribution fits fails with one line naming it and the package; with
/// `--skip-unsatisfiable` it is dropped with a warning; all dropped is an error.
fn unsatisfiable_target(installer: Installer) {
    let t = Test::new();
    // pip does not read Requires-Python from a --find-links wheel for another version:
    // the tag (3.12 and later only) says it too.
    let wheels = t.wheels(&[Wheel::new("newpy", "1.0")
        .requires_python(">=3.11")
        .tag("py312-none-any")
        .file("newpy/__init__.py", "def main():\n    print('new')\n")]);
    let build = |extra: &[&str]| {
        t.rshiv()
            .args(["--no-index", "--find-links"])
            .arg(&wheels)
            .installer(installer)
            .args(extra)
            .args(["newpy", "-e", "newpy:main", "-o", "new.pyz"])
            .run()
    };
    let versions = ["--python-version", "3.8", "--python-version", "3.12"];
    build(&versions)
        .failure()
        .stderr_line_with(&[
            "error:",
            "CPython 3.8 on linux_",
            "newpy",
            "--skip-unsatisfiable",
        ])
        .stderr_lacks("panicked");
    assert!(!t.path("new.pyz").exists());

    build(&[&versions[..], &["--skip-unsatisfiable"]].concat())
        .success()
        .stderr_line_with(&["warning:", "dropping the target CPython 3.8", "newpy"]);
    let pyz = Pyz::open(t.path("new.pyz"));
    // One target left: the pyz is a single-target one, of 3.12.
    assert!(pyz.environment().get("targets").is_none());

    build(&[
        "--python-version",
        "3.8",
        "--python-version",
        "3.9",
        "--skip-unsatisfiable",
    ])
    .failure()
    .stderr_line_with(&["error:", "no target is left"]);
}

#[test]
fn an_unsatisfiable_target_fails_or_is_skipped_with_uv() {
    let _ = crate::uv!();
    unsatisfiable_target(Installer::Uv);
}

#[test]
fn an_unsatisfiable_target_fails_or_is_skipped_with_pip() {
    unsatisfiable_target(Installer::Pip);
}

/// `python-versions` and `platforms` in `[tool.rshiv]`; the command line's replace them.
#[test]
fn targets_come_from_the_project_configuration() {
    let t = Test::new();
    let wheels = fleet_wheels(&t);
    t.write(
        "pyproject.toml",
        "[tool.rshiv]\npython-versions = [\"3.8\", \"3.12\"]\nentry-point = \"pick:main\"\n",
    );
    let run = |extra: &[&str], out: &str| {
        t.rshiv()
            .args(["--no-index", "--find-links"])
            .arg(&wheels)
            .installer(Installer::preferred())
            .args(extra)
            .args(["pick", "-o", out])
            .run()
    };
    run(&[], "conf.pyz").success();
    let info = info_json(&t, "conf.pyz");
    let pythons: Vec<&str> = info["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| target["python"].as_str().unwrap())
        .collect();
    assert_eq!(pythons, ["3.8", "3.12"]);
    run(&["--python-version", "3.12"], "cli.pyz").success();
    assert!(info_json(&t, "cli.pyz").get("targets").is_none());
}

/// Options that cannot serve several targets are refused with one line, before installing.
#[test]
fn options_for_one_target_are_refused_with_several() {
    let t = Test::new();
    let several = ["--python-version", "3.8", "--python-version", "3.12"];
    for (extra, needle) in [
        (&["--build-id", "x"][..], "--build-id"),
        (&["--python-version", "3.x"][..], "expected X.Y"),
        (&["--", "--python-version", "3.9"][..], "give it once"),
    ] {
        t.rshiv()
            .args(several)
            .args(["pick", "-o", "x.pyz"])
            .args(extra)
            .run()
            .failure()
            .stderr_line_with(&["error:", needle]);
    }
    assert!(!t.path("x.pyz").exists());
}

/// The sbom lists a component shared by the targets once, marked with both.
#[test]
fn the_sbom_marks_each_component_with_its_targets() {
    let t = Test::new();
    let wheels = fleet_wheels(&t);
    build(
        &t,
        &wheels,
        &["--python-version", "3.8", "--python-version", "3.12"],
        "fleet.pyz",
    )
    .success();
    let output = t
        .rshiv()
        .args(["info", "--sbom", "-"])
        .arg(t.path("fleet.pyz"))
        .run();
    output.success();
    let bom: Value = serde_json::from_slice(output.stdout.as_bytes()).unwrap();
    let marks: BTreeMap<String, String> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["purl"].as_str().unwrap().to_string(),
                c["properties"][0]["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let platform = format!("linux_{}", std::env::consts::ARCH);
    assert_eq!(marks["pkg:pypi/pick@1.0"], format!("cp38-{platform}"));
    assert_eq!(marks["pkg:pypi/pick@2.0"], format!("cp312-{platform}"));
    assert_eq!(
        marks["pkg:pypi/shared@1.0"],
        format!("cp38-{platform},cp312-{platform}")
    );
}

/// A local project is built into a wheel once and installed for every target, with the
/// dependencies each target resolves.
#[test]
fn a_local_project_is_built_once_for_every_target() {
    let t = Test::new();
    let wheels = fleet_wheels(&t);
    Project::new("app", "0.1")
        .file("app/__init__.py", "def main():\n    print('app')\n")
        .dependency("pick")
        .write(&t.path("app"));
    let output = t
        .rshiv()
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .installer(Installer::preferred())
        .args(["--python-version", "3.8", "--python-version", "3.12"])
        .args(["./app", "-e", "app:main", "-o", "app.pyz"])
        .run();
    output.success();
    let builds = output
        .stderr
        .lines()
        .filter(|l| l.contains("building"))
        .count();
    assert_eq!(builds, 1, "{}", output.stderr);
    let info = info_json(&t, "app.pyz");
    let per_target: Vec<Vec<String>> = info["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| versions(&target["distributions"]))
        .collect();
    assert_eq!(
        per_target,
        [
            ["app 0.1", "pick 1.0", "shared 1.0"],
            ["app 0.1", "pick 2.0", "shared 1.0"]
        ]
    );
}

/// Two platforms of one version: each target's compiled wheel, its needs baked for the
/// bootstrap to choose by (python, platform, native), as FLEET-SPEC fixes them.
#[test]
fn each_platform_gets_its_binary_wheel_and_its_needs() {
    let t = Test::new();
    let wheel = |arch: &str| {
        Wheel::new("fastmath", "1.0")
            .tag(&format!("cp311-cp311-manylinux2014_{arch}"))
            .file("fastmath/__init__.py", format!("ARCH = '{arch}'\n"))
            .file("fastmath/common.py", "SHARED = True\n")
    };
    let wheels = t.wheels(&[wheel("x86_64"), wheel("aarch64")]);
    let platforms = ["manylinux2014_x86_64", "manylinux2014_aarch64"];
    t.rshiv()
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .installer(Installer::preferred())
        .args(["--python-version", "3.11"])
        .args(["--platform", platforms[0], "--platform", platforms[1]])
        .args(["fastmath", "-e", "fastmath", "-o", "fm.pyz"])
        .run()
        .success()
        .stderr_line_with(&["installing for CPython 3.11 on manylinux2014_aarch64"]);
    let pyz = Pyz::open(t.path("fm.pyz"));
    let names = pyz.payload_names();
    assert!(
        names.contains(&"_rshiv/1/fastmath/__init__.py".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.ends_with("/fastmath/common.py")),
        "{names:?}"
    );
    let stub = String::from_utf8(pyz.outer_member("_rshiv/stub.py").data.clone()).unwrap();
    let baked_line = stub
        .lines()
        .find(|line| line.starts_with("_BAKED = "))
        .unwrap();
    let python = crate::support::any_python().expect("a python to read _BAKED");
    let output = t
        .command(python)
        .args([
            "-c",
            "import json, sys; exec(sys.argv[1]); print(json.dumps(_BAKED))",
        ])
        .arg(baked_line)
        .run();
    output.success();
    let baked: Value = serde_json::from_str(&output.stdout).unwrap();
    let targets = baked["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    for (target, (platform, machine)) in targets
        .iter()
        .zip([(platforms[0], "x86_64"), (platforms[1], "aarch64")])
    {
        assert_eq!(target["python"], serde_json::json!([3, 11]));
        assert_eq!(target["platform"], platform);
        assert_eq!(target["native"]["python"], serde_json::json!([3, 11]));
        assert_eq!(target["native"]["machines"][0], machine);
        for key in [
            "build_id",
            "files",
            "unpacked_bytes",
            "console_scripts",
            "pth",
        ] {
            assert!(target.get(key).is_some(), "{key} in {target}");
        }
    }
    assert_eq!(baked["build_id"], pyz.environment()["build_id"]);
    assert_eq!(baked["native"], targets[0]["native"]);
}

/// End to end: the pyz built for 3.8 and 3.12 runs each one's own resolution, extracted
/// where a single-target build of that target extracts; 3.11 gets one line, no traceback.
#[test]
fn each_cpython_runs_its_own_target() {
    let py38 = crate::python!(8);
    let py311 = crate::python!(11);
    let py312 = crate::python!(12);
    let t = Test::new();
    let wheels = fleet_wheels(&t);
    let versions = ["--python-version", "3.8", "--python-version", "3.12"];
    build(&t, &wheels, &versions, "fleet.pyz").success();
    let info = info_json(&t, "fleet.pyz");
    for (python, k, printed) in [(&py38, 0, "pick 1.0\n"), (&py312, 1, "pick 2.0\n")] {
        t.pyz(python, "fleet.pyz")
            .run()
            .success()
            .stdout_is(printed);
        let id = info["targets"][k]["build_id"].as_str().unwrap();
        assert!(t.root().join(format!("fleet_{id}")).is_dir(), "target {k}");
    }
    t.pyz(&py311, "fleet.pyz")
        .run()
        .code(1)
        .stdout_is("")
        .stderr_line_with(&["fleet was built for CPython 3.8, 3.12 on linux_", "3.11"])
        .stderr_lacks("Traceback");
}
