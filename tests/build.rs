//! Building: the pyz file itself. Its bytes on disk (layout, determinism, modes, no
//! build-machine paths), how it replaces an older one, and compression.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zip::CompressionMethod;

use crate::support::{build_greet, greet, listing, proj, tree, Installer, Pyz, Test};
use crate::{every_cpython, python};

#[test]
fn builds_a_pyz_that_runs_its_console_script() {
    let python = python!(11);
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "greet.pyz");
    t.pyz(&python, "greet.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// The output is executable and runs through its own shebang line.
#[test]
fn output_is_executable_and_runs_through_its_shebang() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    let shebang = python.to_str().expect("a UTF-8 path");
    t.build(
        &["greet", "-c", "greet", "-p", shebang, "-o", "greet.pyz"],
        &wheels,
    )
    .success();
    let mode = std::fs::metadata(t.path("greet.pyz"))
        .expect("the pyz exists")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o111,
        0o111,
        "mode {mode:o} is not executable by all"
    );
    t.command(t.path("greet.pyz"))
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// shiv's default shebang, then `-p` replaces it verbatim.
#[test]
fn shebang_is_env_python3_unless_p_says_otherwise() {
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "default.pyz");
    assert_eq!(
        Pyz::open(t.path("default.pyz")).shebang(),
        "#!/usr/bin/env python3"
    );
    build_greet(
        &t,
        &["-c", "greet", "-p", "/opt/py/bin/python3 -sE"],
        "custom.pyz",
    );
    assert_eq!(
        Pyz::open(t.path("custom.pyz")).shebang(),
        "#!/opt/py/bin/python3 -sE"
    );
}

/// The zip holds `__main__.py` and an `environment.json` with shiv's fields, and the
/// payload holds the installed distribution.
#[test]
fn archive_has_main_environment_json_and_the_payload() {
    let t = Test::new();
    // Names whose bytewise order differs from a case-folding or locale order.
    let wheels = t.wheels(&[greet()
        .file("greet/Zeta.py", "")
        .file("greet/alpha.py", "")
        .file("greet/_under.py", "")
        .file("greet/été.py", "")
        .file("greet/a/b.py", "")
        .file("greet/a.b.py", "")]);
    t.build(&["greet", "-c", "greet", "-o", "greet.pyz"], &wheels)
        .success();
    let pyz = Pyz::open(t.path("greet.pyz"));
    let names = pyz.outer_names();
    assert!(names.contains(&"__main__.py"), "{names:?}");
    let environment = pyz.environment();
    for field in [
        "shiv_version",
        "always_write_cache",
        "build_id",
        "built_at",
        "hashes",
        "no_modify",
        "reproducible",
        "preamble",
        "entry_point",
        "compile_pyc",
        "extend_pythonpath",
        "root",
        "script",
    ] {
        assert!(
            environment.get(field).is_some(),
            "environment.json lacks shiv's {field}: {environment}"
        );
    }
    assert_eq!(environment["entry_point"], "greet:main");
    let payload = pyz.payload_names();
    assert!(
        payload.contains(&"greet/__init__.py".to_owned()),
        "{payload:?}"
    );
    assert!(
        payload.iter().any(|n| n == "greet-1.0.dist-info/METADATA"),
        "{payload:?}"
    );
    let mut sorted = payload.clone();
    sorted.sort();
    assert_eq!(payload, sorted, "payload entries are not sorted");
    assert!(
        !payload
            .iter()
            .any(|n| n.ends_with(".pyc") || n.ends_with('/')),
        "payload has .pyc or directory entries: {payload:?}"
    );
}

/// The layout of `src/archive/mod.rs`: the outer members in a fixed order, the
/// payload first, its data at `len(shebang line) + 30 + len("_rshiv/payload.zip")`.
#[test]
fn archive_layout_follows_the_format() {
    let t = Test::new();
    build_greet(&t, &["-c", "greet"], "app.pyz");
    let pyz = Pyz::open(t.path("app.pyz"));
    assert_eq!(
        pyz.outer_names(),
        [
            "_rshiv/payload.zip",
            "_rshiv/__init__.py",
            "_rshiv/bytecode.py",
            "_rshiv/extract.py",
            "_rshiv/runtime.py",
            "_rshiv/stub.py",
            "_rshiv/stub.pyc",
            "_rshiv/target.py",
            "_rshiv/unpack.py",
            "__main__.py",
            "__main__.pyc",
            "environment.json"
        ]
    );
    // The payload, `__main__.pyc` (read before zlib can be imported) and `_rshiv/target.py`
    // (a multi-target pyz's warm path) are stored; the rest is deflated.
    for member in &pyz.outer {
        let deflated = [
            "_rshiv/bytecode.py",
            "_rshiv/extract.py",
            "_rshiv/runtime.py",
            "_rshiv/stub.py",
            "_rshiv/stub.pyc",
            "_rshiv/unpack.py",
            "__main__.py",
            "environment.json",
        ]
        .contains(&member.name.as_str());
        let expected = if deflated {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        assert_eq!(member.compression, expected, "{}", member.name);
    }
    let start = pyz.shebang().len() + 1 + 30 + "_rshiv/payload.zip".len();
    let payload = &pyz.outer_member("_rshiv/payload.zip").data;
    assert!(
        pyz.bytes[start..].starts_with(payload),
        "the payload's data does not start at byte {start}"
    );
}

/// The build id is sha256 over the payload in entry order of
/// `path, 0, "100644"|"100755", 0, sha256(contents)`, as `src/archive/mod.rs` defines it.
#[test]
fn build_id_is_the_payload_hash() {
    use sha2::{Digest, Sha256};
    let t = Test::new();
    let wheels = t.wheels(&[greet().executable("greet/tool.sh", "#!/bin/sh\n")]);
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    let pyz = Pyz::open(t.path("app.pyz"));
    let mut hasher = Sha256::new();
    for member in pyz.payload() {
        let mode = if member.mode.unwrap_or(0) & 0o111 != 0 {
            "100755"
        } else {
            "100644"
        };
        hasher.update(member.name.as_bytes());
        hasher.update([0]);
        hasher.update(mode.as_bytes());
        hasher.update([0]);
        hasher.update(Sha256::digest(&member.data));
    }
    let expected: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(pyz.environment()["build_id"], expected.as_str());
}

/// The same project built from two different directories gives identical bytes; timestamps
/// are 1980-01-01 unless SOURCE_DATE_EPOCH says otherwise.
#[test]
fn builds_are_byte_identical_from_any_directory() {
    let t = Test::new();
    for dir in ["first", "second/nested"] {
        proj().write(&t.path(dir));
        t.rshiv()
            .current_dir(dir)
            .installer(Installer::preferred())
            .args(["--no-index", ".", "-c", "proj", "-o", "../app.pyz"])
            .run()
            .success();
        std::fs::rename(
            t.path(dir).join("../app.pyz"),
            t.path(format!("{}.pyz", dir.replace('/', "-"))),
        )
        .expect("move the pyz aside");
    }
    let first = t.read("first.pyz");
    assert!(
        first == t.read("second-nested.pyz"),
        "two builds of one project from different directories differ"
    );
    for member in Pyz::open(t.path("first.pyz")).payload() {
        assert_eq!(member.modified, (1980, 1, 1, 0, 0, 0), "{}", member.name);
    }
}

/// SOURCE_DATE_EPOCH fixes every timestamp, and two builds at different times still agree.
#[test]
fn source_date_epoch_sets_the_timestamps() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    for out in ["one", "two"] {
        t.rshiv()
            .args(["--no-index", "--find-links"])
            .arg(&wheels)
            .installer(Installer::preferred())
            .args([
                "greet",
                "-c",
                "greet",
                "-o",
                &format!("{}/app.pyz", t.mkdir(out)),
            ])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .run()
            .success();
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert!(
        t.read("one/app.pyz") == t.read("two/app.pyz"),
        "builds a second apart differ"
    );
    let pyz = Pyz::open(t.path("one/app.pyz"));
    // 1700000000 is 2023-11-14 22:13:20 UTC.
    for member in pyz.payload() {
        assert_eq!(
            member.modified,
            (2023, 11, 14, 22, 13, 20),
            "{}",
            member.name
        );
    }
    assert_eq!(pyz.environment()["built_at"], "2023-11-14 22:13:20");
}

/// The bytes do not depend on how many threads compress: `-j 1`, `-j 2` and `-j 7` agree,
/// for a payload of many files of mixed sizes (some over libdeflate's whole-file limit
/// would need 32 MiB; these exercise the ordering of many small and medium entries).
#[test]
fn builds_are_byte_identical_across_thread_counts() {
    let t = Test::new();
    let mut wheel = greet();
    for i in 0..300 {
        let body = format!("VALUE_{i} = {:?}\n", "x".repeat(i * 97 % 20_000));
        wheel = wheel.file(&format!("greet/data/m{i:03}.py"), body);
    }
    let wheels = t.wheels(&[wheel]);
    let outputs = ["j1", "j2", "j7"];
    for (dir, jobs) in outputs.iter().zip(["1", "2", "7"]) {
        std::fs::create_dir(t.path(dir)).expect("mkdir");
        t.build(
            &[
                "greet",
                "-c",
                "greet",
                "-j",
                jobs,
                "-o",
                &format!("{dir}/app.pyz"),
            ],
            &wheels,
        )
        .success();
    }
    let first = t.read("j1/app.pyz");
    for dir in &outputs[1..] {
        assert!(
            first == t.read(format!("{dir}/app.pyz")),
            "-j {dir} differs from -j 1"
        );
    }
}

/// `--reproducible` is accepted for shiv compatibility and changes nothing.
#[test]
fn reproducible_is_accepted() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    for dir in ["plain", "reproducible"] {
        let out = format!("{}/app.pyz", t.mkdir(dir));
        let mut args = vec!["greet", "-c", "greet", "-o", &out];
        if dir == "reproducible" {
            args.push("--reproducible");
        }
        t.build(&args, &wheels).success();
    }
    assert!(t.read("plain/app.pyz") == t.read("reproducible/app.pyz"));
}

/// Payload modes are normalized: 0755 for a file with an execute bit, 0644 otherwise.
#[test]
fn payload_modes_are_normalized() {
    let t = Test::new();
    let wheels = t.wheels(&[greet().executable("greet/tool.sh", "#!/bin/sh\necho tool\n")]);
    t.build(&["greet", "-c", "greet", "-o", "greet.pyz"], &wheels)
        .success();
    let pyz = Pyz::open(t.path("greet.pyz"));
    assert_eq!(pyz.payload_file("greet/tool.sh").mode, Some(0o100755));
    assert_eq!(pyz.payload_file("greet/__init__.py").mode, Some(0o100644));
}

#[test]
fn no_build_machine_paths_in_the_pyz_or_its_extraction() {
    no_build_machine_paths(Installer::preferred());
}

#[test]
fn no_build_machine_paths_with_pip() {
    no_build_machine_paths(Installer::Pip);
}

/// Nothing in the payload or the extracted tree names the directory the build ran in,
/// the staging directory or the build interpreter (a script's `#!` line);
/// `direct_url.json` of a local project is dropped or holds no path.
fn no_build_machine_paths(installer: Installer) {
    let python = python!(11);
    let t = Test::new();
    proj().write(&t.path("src"));
    t.rshiv()
        .current_dir("src")
        .installer(installer)
        .args(["--no-index", ".", "-c", "proj", "-o", "../app.pyz"])
        .run()
        .success();
    // The project's directory, the staging directory, the build interpreter's prefix.
    let here = t.path("src").to_string_lossy().into_owned();
    let prefix = python
        .parent()
        .and_then(Path::parent)
        .expect("python is in PREFIX/bin")
        .to_string_lossy()
        .into_owned();
    let forbidden = [here.as_str(), "rshiv-stage-", prefix.as_str()];
    let pyz = Pyz::open(t.path("app.pyz"));
    for member in pyz.payload().iter().chain(&pyz.outer) {
        if member.name.ends_with(".zip") {
            continue;
        }
        let text = String::from_utf8_lossy(&member.data);
        for path in forbidden {
            assert!(!text.contains(path), "{} names {path}", member.name);
        }
        if member.name.ends_with("direct_url.json") {
            assert!(
                !String::from_utf8_lossy(&member.data).contains("file://"),
                "{} keeps a file URL",
                member.name
            );
        }
    }
    t.pyz(&python, "app.pyz")
        .run()
        .success()
        .stdout_is("proj main\n");
    // Only the payload: the runtime's own bytecode names the cache, which is in the test dir.
    let extraction = t.extraction("app.pyz").join("site-packages");
    for file in tree(&extraction) {
        let data = std::fs::read(extraction.join(&file)).expect("read an extracted file");
        let text = String::from_utf8_lossy(&data);
        for path in forbidden {
            assert!(!text.contains(path), "extracted {file} names {path}");
        }
    }
}

/// A failed build leaves an existing output as it was and no temp file beside it.
#[test]
fn failed_build_leaves_the_old_output_untouched() {
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.write("out/app.pyz", "the previous build");
    t.build(
        &["no-such-dist", "-c", "greet", "-o", "out/app.pyz"],
        &wheels,
    )
    .failure();
    assert_eq!(t.read("out/app.pyz"), b"the previous build");
    assert_eq!(listing(&t.path("out")), ["app.pyz"]);
}

/// A successful rebuild replaces the file by rename: a process holding the old one open
/// still reads the old bytes.
#[test]
fn rebuild_replaces_the_output_atomically() {
    let t = Test::new();
    t.mkdir("out");
    build_greet(&t, &["-c", "greet"], "out/app.pyz");
    let before = t.read("out/app.pyz");
    let held = std::fs::File::open(t.path("out/app.pyz")).expect("open the old pyz");
    build_greet(&t, &["-e", "greet:seven"], "out/app.pyz");
    let mut still = Vec::new();
    std::io::Read::read_to_end(&mut &held, &mut still).expect("read the old pyz");
    assert!(still == before, "the old file was rewritten in place");
    assert!(t.read("out/app.pyz") != before);
    assert_eq!(listing(&t.path("out")), ["app.pyz"]);
}

/// Two builds racing to the same output both finish, and what is left is one whole pyz.
#[test]
fn concurrent_builds_to_one_output() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    t.mkdir("out");
    std::thread::scope(|scope| {
        let builds: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| t.build(&["greet", "-c", "greet", "-o", "out/app.pyz"], &wheels))
            })
            .collect();
        for build in builds {
            build.join().expect("a build thread").success();
        }
    });
    assert_eq!(listing(&t.path("out")), ["app.pyz"]);
    t.pyz(&python, "out/app.pyz")
        .run()
        .success()
        .stdout_is("hello from greet\n");
}

/// Deflate by default (`--compressed`), STORED with `--uncompressed`.
#[test]
fn compressed_and_uncompressed() {
    let t = Test::new();
    let big = "print('a line that compresses very well')\n".repeat(500);
    let wheels = t.wheels(&[greet().file("greet/big.py", &big)]);
    for (flag, out) in [("--compressed", "c.pyz"), ("--uncompressed", "u.pyz")] {
        t.build(&["greet", "-c", "greet", flag, "-o", out], &wheels)
            .success();
    }
    let compressed = Pyz::open(t.path("c.pyz")).payload_file("greet/big.py");
    assert_eq!(compressed.compression, CompressionMethod::Deflated);
    assert_eq!(compressed.data, big.as_bytes());
    for member in Pyz::open(t.path("u.pyz")).payload() {
        assert_eq!(
            member.compression,
            CompressionMethod::Stored,
            "{}",
            member.name
        );
    }
    t.build(&["greet", "-c", "greet", "-o", "default.pyz"], &wheels)
        .success();
    assert!(
        Pyz::open(t.path("default.pyz")).payload() == Pyz::open(t.path("c.pyz")).payload(),
        "deflate is not the default"
    );
}

/// Every `--compression` method gives a pyz that unpacks and runs on the oldest and the
/// newest CPython, a file over a MiB (unpacked in pieces) included.
#[test]
fn every_compression_method_runs() {
    let t = Test::new();
    let big: String = (0..120_000)
        .map(|i| format!("{:07}\n", i * 7919 % 1_000_003))
        .collect();
    let wheel = greet().file("greet/big.txt", &big).file(
        "greet/check.py",
        "import os\ndef main():\n    path = os.path.join(os.path.dirname(__file__), 'big.txt')\n    print(len(open(path).read()))\n",
    );
    let wheels = t.wheels(&[wheel]);
    for method in ["stored", "deflate-1", "deflate-12", "bzip2", "lzma"] {
        std::fs::create_dir(t.path(method)).expect("mkdir");
        let out = format!("{method}/app.pyz");
        t.build(
            &[
                "greet",
                "-e",
                "greet.check:main",
                "--compression",
                method,
                "-o",
                &out,
            ],
            &wheels,
        )
        .success();
        for minor in [8, 13] {
            let python = python!(minor);
            t.pyz(&python, &out)
                .env("RSHIV_ROOT", t.path(format!("root-{method}-{minor}")))
                .run()
                .success()
                .stdout_is(&format!("{}\n", big.len()));
        }
    }
}

/// Output names with spaces, several dots, or no extension: the stem names the app.
#[test]
fn output_names() {
    let python = python!(11);
    let t = Test::new();
    let wheels = t.wheels(&[greet()]);
    for (out, stem) in [
        ("my app.pyz", "my app"),
        ("api.v2.pyz", "api.v2"),
        ("tool", "tool"),
    ] {
        t.build(&["greet", "-c", "greet", "-o", out], &wheels)
            .success();
        assert_eq!(Pyz::open(t.path(out)).environment()["name"], stem);
        t.pyz(&python, out)
            .run()
            .success()
            .stdout_is("hello from greet\n");
        assert!(t.extraction(out).join("site-packages").is_dir(), "{out}");
    }
}

/// The pyz and its payload pass each CPython's own `zipfile` check (every CRC and size), as
/// `unzip -t` or `shiv-info` would read them.
fn zipfile_accepts_the_archive(minor: u32) {
    let python = python!(minor);
    let t = Test::new();
    let wheels = t.wheels(&[greet().file("greet/big.py", "x = 1\n".repeat(5000))]);
    t.build(&["greet", "-c", "greet", "-o", "app.pyz"], &wheels)
        .success();
    let check = r#"import io, json, sys, zipfile
outer = zipfile.ZipFile(sys.argv[1])
inner = zipfile.ZipFile(io.BytesIO(outer.read("_rshiv/payload.zip")))
print(outer.testzip(), inner.testzip(), json.loads(outer.read("environment.json"))["entry_point"])
"#;
    t.command(&python)
        .args(["-c", check])
        .arg(t.path("app.pyz"))
        .run()
        .success()
        .stdout_is("None None greet:main\n");
}
every_cpython!(zipfile_accepts_the_archive);

/// A requirement given as a wheel's path leaves no trace of that path in the payload
/// (`direct_url.json` names it otherwise), with either installer.
#[test]
fn wheel_path_requirement_leaves_no_path() {
    let t = Test::new();
    let wheel = greet().write(&t.path("dist"));
    let installers = [Installer::preferred(), Installer::Pip];
    for (i, installer) in installers.into_iter().enumerate() {
        let out = format!("{}/app.pyz", t.mkdir(format!("out{i}")));
        t.rshiv()
            .installer(installer)
            .arg("--no-index")
            .arg(&wheel)
            .args(["-c", "greet", "-o", &out])
            .run()
            .success();
        let dist = t.path("dist").to_string_lossy().into_owned();
        for member in Pyz::open(&out).payload() {
            let text = String::from_utf8_lossy(&member.data);
            assert!(!text.contains(&dist), "{} names {dist}", member.name);
        }
    }
}
