//! `rshiv info` on pyz files made here: rshiv's layout (with and without recorded
//! distributions), shiv's layout, and files that are not pyz files at all.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::*;

const METADATA: &str = "Metadata-Version: 2.1\nName: FastAPI\nVersion: 0.110.0\n\
                        Summary: FastAPI framework\nLicense-Expression: MIT\n\nLong text\n";
const WHEEL: &str = "Wheel-Version: 1.0\nTag: py3-none-any\n";
const NATIVE_METADATA: &str = "Metadata-Version: 2.1\nName: pydantic_core\nVersion: 2.16.3\n\
                               Classifier: License :: OSI Approved :: MIT License\n";
const NATIVE_WHEEL: &str = "Wheel-Version: 1.0\nTag: cp311-cp311-manylinux_2_17_x86_64\n";

/// A zip of `members` (name, bytes, stored?) preceded by `prefix`.
fn zip_bytes(prefix: &[u8], members: &[(&str, Vec<u8>, bool)]) -> Vec<u8> {
    let mut cursor = Cursor::new(prefix.to_vec());
    cursor.set_position(prefix.len() as u64);
    let mut zip = ZipWriter::new(cursor);
    for (name, data, stored) in members {
        let method = if *stored {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        zip.start_file(
            *name,
            SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn payload() -> Vec<u8> {
    zip_bytes(
        b"",
        &[
            ("fastapi-0.110.0.dist-info/METADATA", METADATA.into(), false),
            ("fastapi-0.110.0.dist-info/WHEEL", WHEEL.into(), false),
            ("fastapi/__init__.py", b"x = 1\n".to_vec(), false),
            (
                "pydantic_core-2.16.3.dist-info/METADATA",
                NATIVE_METADATA.into(),
                false,
            ),
            (
                "pydantic_core-2.16.3.dist-info/WHEEL",
                NATIVE_WHEEL.into(),
                false,
            ),
            ("pydantic_core/_core.so", vec![0; 100], false),
        ],
    )
}

fn rshiv_environment(with_distributions: bool) -> Vec<u8> {
    let mut env = json!({
        "shiv_version": "1.0.8", "always_write_cache": false, "build_id": "ab".repeat(32),
        "built_at": "2024-05-01 12:00:00", "hashes": {}, "no_modify": false,
        "reproducible": true, "preamble": null, "entry_point": "simple_api.__main__:main",
        "compile_pyc": false, "extend_pythonpath": false, "prepend_pythonpath": null,
        "root": null, "script": null, "rshiv_version": "0.1.0", "format": "rshiv-1",
        "name": "api", "console_script": "simple_api", "shebang": "#!/usr/bin/env python3",
        "compression": "deflate-6", "isolated": true, "prune_old_builds": false,
        "native": null,
    });
    if with_distributions {
        env["files"] = json!(6);
        env["unpacked_bytes"] = json!(12345);
        env["distributions"] = json!([{"name": "uvicorn", "version": "0.29.0",
            "license": "BSD-3-Clause", "summary": "ASGI server", "tags": ["py3-none-any"]}]);
    }
    serde_json::to_vec(&env).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn rshiv_pyz(dir: &Path, with_distributions: bool) -> PathBuf {
    let bytes = zip_bytes(
        b"#!/usr/bin/env python3\n",
        &[
            ("_rshiv/payload.zip", payload(), true),
            ("_rshiv/__init__.py", Vec::new(), true),
            ("__main__.py", b"import _rshiv\n".to_vec(), true),
            (
                "environment.json",
                rshiv_environment(with_distributions),
                true,
            ),
        ],
    );
    write(dir, "api.pyz", &bytes)
}

fn shiv_pyz(dir: &Path) -> PathBuf {
    let env = json!({"shiv_version": "1.0.8", "build_id": "cd".repeat(32),
        "built_at": "2024-05-02 08:00:00", "entry_point": null, "script": "bin/tool",
        "from_a_newer_shiv": {"kept": true}});
    let bytes = zip_bytes(
        b"#!/usr/bin/python3.11\n",
        &[
            (
                "site-packages/fastapi-0.110.0.dist-info/METADATA",
                METADATA.into(),
                false,
            ),
            (
                "site-packages/fastapi-0.110.0.dist-info/WHEEL",
                WHEEL.into(),
                false,
            ),
            (
                "site-packages/fastapi/__init__.py",
                b"x = 1\n".to_vec(),
                false,
            ),
            ("_bootstrap/__init__.py", b"".to_vec(), false),
            ("environment.json", serde_json::to_vec(&env).unwrap(), false),
        ],
    );
    write(dir, "tool.pyz", &bytes)
}

fn info(pyz: &Path, json: bool) -> String {
    let args = InfoArgs {
        pyz: pyz.to_path_buf(),
        json,
        sbom: None,
    };
    let mut out = Vec::new();
    run(&args, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn recorded_distributions_are_shown_with_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let text = info(&rshiv_pyz(dir.path(), true), false);
    assert!(
        text.contains("api.pyz: an rshiv zip app (rshiv-1, rshiv 0.1.0)\n"),
        "{text}"
    );
    assert!(
        text.contains("  entry point  simple_api.__main__:main (console script simple_api)\n"),
        "{text}"
    );
    assert!(
        text.contains("  shebang      #!/usr/bin/env python3\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("  build id     {}\n", "ab".repeat(32))),
        "{text}"
    );
    assert!(
        text.contains("(6 files, 12.1 KiB unpacked, deflate-6)"),
        "{text}"
    );
    assert!(text.contains("  needs        pure Python\n"), "{text}");
    assert!(text.contains("  options      isolated\n"), "{text}");
    assert!(
        text.ends_with(
            "1 distribution\n  NAME     VERSION  LICENSE\n  uvicorn  0.29.0   BSD-3-Clause\n"
        ),
        "{text}"
    );
}

#[test]
fn without_a_record_the_inner_payload_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let text = info(&rshiv_pyz(dir.path(), false), false);
    assert!(
        text.contains("  needs        cp311 manylinux_2_17 x86_64\n"),
        "{text}"
    );
    assert!(text.contains("(6 files, "), "{text}");
    assert!(text.contains("  FastAPI        0.110.0  MIT\n"), "{text}");
    assert!(
        text.contains("  pydantic_core  2.16.3   MIT License\n"),
        "{text}"
    );
}

#[test]
fn json_has_the_environment_and_the_distributions() {
    let dir = tempfile::tempdir().unwrap();
    let pyz = rshiv_pyz(dir.path(), false);
    let value: Value = serde_json::from_str(&info(&pyz, true)).unwrap();
    assert_eq!(value["entry_point"], "simple_api.__main__:main");
    assert_eq!(value["build_id"], "ab".repeat(32));
    assert_eq!(value["shiv_version"], "1.0.8");
    assert_eq!(value["size"], std::fs::metadata(&pyz).unwrap().len());
    assert_eq!(value["files"], 6);
    assert_eq!(value["needs"], "cp311 manylinux_2_17 x86_64");
    let dists = value["distributions"].as_array().unwrap();
    assert_eq!(dists.len(), 2);
    assert_eq!(dists[0]["name"], "FastAPI");
    assert_eq!(dists[0]["version"], "0.110.0");
    assert_eq!(dists[0]["license"], "MIT");
    assert_eq!(dists[0]["summary"], "FastAPI framework");
    assert_eq!(dists[1]["summary"], Value::Null);
}

#[test]
fn shiv_files_are_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let pyz = shiv_pyz(dir.path());
    let text = info(&pyz, false);
    assert!(
        text.contains("tool.pyz: a shiv zip app (shiv 1.0.8)\n"),
        "{text}"
    );
    assert!(text.contains("  script       bin/tool\n"), "{text}");
    assert!(
        text.contains("  shebang      #!/usr/bin/python3.11\n"),
        "{text}"
    );
    assert!(text.contains("(3 files, "), "{text}");
    assert!(text.contains("  FastAPI  0.110.0  MIT\n"), "{text}");
    let value: Value = serde_json::from_str(&info(&pyz, true)).unwrap();
    assert_eq!(value["format"], "shiv");
    assert_eq!(value["name"], "tool");
    assert_eq!(value["from_a_newer_shiv"]["kept"], true);
    assert_eq!(
        value["isolated"], false,
        "rshiv's fields read as their defaults"
    );
    assert_eq!(value["distributions"][0]["name"], "FastAPI");
}

#[test]
fn sbom_goes_to_a_file_or_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let pyz = rshiv_pyz(dir.path(), false);
    let target = dir.path().join("api.cdx.json");
    let mut out = Vec::new();
    let args = InfoArgs {
        pyz: pyz.clone(),
        json: false,
        sbom: Some(target.clone()),
    };
    run(&args, &mut out).unwrap();
    assert!(String::from_utf8(out).unwrap().contains("2 distributions"));
    let from_file: Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(
        from_file["components"][1]["purl"],
        "pkg:pypi/pydantic-core@2.16.3"
    );
    assert_eq!(from_file["metadata"]["component"]["name"], "api");

    let mut out = Vec::new();
    let args = InfoArgs {
        pyz,
        json: false,
        sbom: Some("-".into()),
    };
    run(&args, &mut out).unwrap();
    let from_stdout: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(from_stdout, from_file, "the BOM is the same every time");
}

#[test]
fn files_that_are_not_pyz_files_get_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = |path: &Path| {
        let args = InfoArgs {
            pyz: path.to_path_buf(),
            json: false,
            sbom: None,
        };
        format!("{:#}", run(&args, &mut Vec::new()).unwrap_err())
    };
    let text = write(dir.path(), "foo", b"#!/bin/sh\necho hi\n");
    assert_eq!(
        error(&text),
        format!(
            "not a zip application: {} (no zip central directory found)",
            text.display()
        )
    );
    let plain = write(
        dir.path(),
        "plain.zip",
        &zip_bytes(b"", &[("a.txt", b"a".to_vec(), true)]),
    );
    assert_eq!(
        error(&plain),
        format!(
            "not a zip application built by rshiv or shiv: {} (no environment.json)",
            plain.display()
        )
    );
    let both = InfoArgs {
        pyz: text.clone(),
        json: true,
        sbom: Some("-".into()),
    };
    let err = run(&both, &mut Vec::new()).unwrap_err().to_string();
    assert!(err.contains("give --sbom a file name"), "{err}");
    let missing = dir.path().join("missing.pyz");
    assert!(error(&missing).contains(&missing.display().to_string()));
}
