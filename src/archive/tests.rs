//! End-to-end tests of the pyz the archive module writes: byte-identical output, what
//! CPython's `zipfile` and `zipimport` read from it, ZIP64, the build id and its errors.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::bootstrap::tail_members;
use super::environment::{Baked, Environment};
use super::pack::{write_pyz, PackOptions, PayloadFile, PayloadSummary, TailMember, PAYLOAD_NAME};
use super::Compression;
use crate::progress::{Progress, Silent, Step};

/// `n` bytes that no compressor shrinks (xorshift64).
pub fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// 2023-11-14 22:13:20 UTC.
const TIMESTAMP: u64 = 1_700_000_000;

/// A file of a test tree: payload path, contents, executable.
type Spec = (String, Vec<u8>, bool);

/// Small, empty, incompressible, executable, nested, non-ASCII, and (with the test
/// limits) big files that take the streaming path, compressed and stored.
fn sample_tree() -> Vec<Spec> {
    let text = |s: &str, n: usize| s.repeat(n).into_bytes();
    let mut files: Vec<Spec> = vec![
        (
            "bin/tool".into(),
            b"#!/usr/bin/env python3\nprint('tool')\n".to_vec(),
            true,
        ),
        (
            "caf\u{e9}/menu.py".into(),
            text("SOUP = 'du jour'\n", 3),
            false,
        ),
        (
            "pkg/__init__.py".into(),
            text("from .core import main\n", 40),
            false,
        ),
        ("pkg/big_noise.bin".into(), noise(100_000), false),
        (
            "pkg/big_text.txt".into(),
            text("all work and no play ", 10_000),
            false,
        ),
        (
            "pkg/data/nested/deep/leaf.json".into(),
            text("{\"k\": [1, 2, 3]}\n", 50),
            false,
        ),
        ("pkg/empty.py".into(), Vec::new(), false),
        ("pkg/noise.bin".into(), noise(3000), false),
        ("pkg/run.sh".into(), text("echo hi\n", 20), true),
    ];
    files.sort();
    files
}

/// Many files of assorted sizes, so that workers finish out of order.
fn busy_tree() -> Vec<Spec> {
    let mut files: Vec<Spec> = (0..200)
        .map(|i| {
            let data = match i % 5 {
                0 => noise(i * 37),
                1 => format!("line {i}\n").repeat(i * 3).into_bytes(),
                2 => Vec::new(),
                3 => format!("{i}").repeat(90_000 / (i + 1) + 1).into_bytes(),
                // Over the test limits: streamed, and stored or compressed.
                _ if i % 40 == 4 => noise(70_000 + i),
                _ if i % 40 == 9 => format!("{i}-").repeat(30_000).into_bytes(),
                _ => format!("x{i}").repeat(i * 11).into_bytes(),
            };
            (format!("pkg{}/m{i:03}.py", i % 7), data, i % 11 == 0)
        })
        .collect();
    files.sort();
    files
}

/// Write `files` under `dir` and describe them as a payload.
fn materialize(dir: &Path, files: &[Spec]) -> Vec<PayloadFile> {
    files
        .iter()
        .map(|(path, data, executable)| {
            let source = dir.join(path);
            std::fs::create_dir_all(source.parent().unwrap()).unwrap();
            std::fs::write(&source, data).unwrap();
            PayloadFile {
                path: path.clone(),
                source,
                executable: *executable,
            }
        })
        .collect()
}

fn options(compression: Compression, threads: usize) -> PackOptions {
    PackOptions {
        shebang: "#!/usr/bin/env python3".into(),
        compression,
        timestamp: TIMESTAMP,
        threads,
        build_id: None,
    }
}

/// Pack into `out` with the real tail members; the summary and the file's bytes.
fn pack_to(
    out: &Path,
    payload: &[PayloadFile],
    options: &PackOptions,
    progress: &dyn Progress,
) -> (PayloadSummary, Vec<u8>) {
    let mut file = std::fs::File::create(out).unwrap();
    let mut tail = |summary: &PayloadSummary| {
        let baked = Baked {
            build_id: summary.build_id.clone(),
            ..Baked::default()
        };
        let env = Environment {
            build_id: summary.build_id.clone(),
            ..Environment::default()
        };
        tail_members(&baked, &env, None, |_| None)
    };
    let summary = write_pyz(&mut file, payload, options, progress, &mut tail).unwrap();
    drop(file);
    (summary, std::fs::read(out).unwrap())
}

fn pack(payload: &[PayloadFile], options: &PackOptions) -> (PayloadSummary, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    pack_to(&dir.path().join("app.pyz"), payload, options, &Silent)
}

fn all_methods() -> Vec<Compression> {
    [
        "stored",
        "deflate-1",
        "deflate",
        "deflate-12",
        "bzip2-1",
        "bzip2",
        "lzma-0",
        "lzma",
    ]
    .iter()
    .map(|name| Compression::parse(name).unwrap())
    .collect()
}

/// Every CPython 3.8+ on this machine, `python3` first.
fn pythons() -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("python3")];
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/root/.pyenv/versions")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let minor: u32 = name.strip_prefix("3.")?.split('.').next()?.parse().ok()?;
            let python = entry.path().join(format!("bin/python3.{minor}"));
            (minor >= 8 && python.exists()).then_some(python)
        })
        .collect();
    versions.sort();
    found.extend(versions);
    found
}

#[track_caller]
fn run_python(python: &Path, args: &[&str]) -> String {
    let output = Command::new(python).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{} {args:?}: {}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Reads a pyz with `zipfile` the way the runtime will: the outer members, then the
/// stored payload through the outer `ZipFile.open`, and prints what it found as JSON.
const READ_PYZ: &str = r#"
import hashlib, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as outer:
    assert outer.testzip() is None
    members = [[i.filename, i.compress_type, i.external_attr >> 16] for i in outer.infolist()]
    with outer.open("_rshiv/payload.zip") as stream, zipfile.ZipFile(stream) as inner:
        assert inner.testzip() is None
        entries = [[i.filename, hashlib.sha256(inner.read(i)).hexdigest(), i.external_attr >> 16,
                    list(i.date_time), i.compress_type, i.file_size] for i in inner.infolist()]
json.dump({"outer": members, "inner": entries}, sys.stdout)
"#;

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn cpython_reads_every_method() {
    let dir = tempfile::tempdir().unwrap();
    let files = sample_tree();
    let payload = materialize(&dir.path().join("src"), &files);
    for compression in all_methods() {
        let pyz = dir.path().join(format!("{compression}.pyz"));
        pack_to(&pyz, &payload, &options(compression, 2), &Silent);
        let pyz = pyz.to_str().unwrap();
        for python in pythons() {
            let read: serde_json::Value =
                serde_json::from_str(&run_python(&python, &["-c", READ_PYZ, pyz])).unwrap();
            let outer: Vec<&str> = read["outer"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m[0].as_str().unwrap())
                .collect();
            assert_eq!(
                outer,
                [
                    PAYLOAD_NAME,
                    "_rshiv/__init__.py",
                    "_rshiv/bytecode.py",
                    "_rshiv/extract.py",
                    "_rshiv/runtime.py",
                    "_rshiv/stub.py",
                    "_rshiv/target.py",
                    "_rshiv/unpack.py",
                    "__main__.py",
                    "environment.json"
                ]
            );
            // Stored: the payload and the warm path; deflated: what first runs read.
            let methods: Vec<u64> = read["outer"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m[1].as_u64().unwrap())
                .collect();
            assert_eq!(methods, [0, 0, 8, 8, 8, 0, 0, 8, 0, 8]);
            assert!(read["outer"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m[2] == 0o100644));

            let inner = read["inner"].as_array().unwrap();
            assert_eq!(inner.len(), files.len());
            for ((path, data, executable), entry) in files.iter().zip(inner) {
                let what = format!("{compression} {} {path}", python.display());
                assert_eq!(entry[0], path.as_str(), "{what}");
                assert_eq!(entry[1], hex_sha256(data).as_str(), "{what}");
                assert_eq!(
                    entry[2],
                    if *executable { 0o100755 } else { 0o100644 },
                    "{what}"
                );
                assert_eq!(
                    entry[3],
                    serde_json::json!([2023, 11, 14, 22, 13, 20]),
                    "{what}"
                );
                assert_eq!(entry[5], data.len(), "{what}");
                let method = entry[4].as_u64().unwrap();
                let compressed = match compression {
                    Compression::Stored => 0,
                    Compression::Deflate(_) => 8,
                    Compression::Bzip2(_) => 12,
                    Compression::Lzma(_) => 14,
                };
                if data.is_empty() || path.ends_with("noise.bin") {
                    assert_eq!(method, 0, "{what}");
                } else if data.len() > 1000 {
                    assert_eq!(method, compressed, "{what}");
                } else {
                    // Tiny files shrink or not depending on the method's overhead.
                    assert!(method == 0 || method == compressed, "{what}");
                }
            }
        }
    }
}

#[test]
fn cpython_tools_list_it_and_zipimport_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let payload = materialize(&dir.path().join("src"), &sample_tree());
    let pyz = dir.path().join("app.pyz");
    pack_to(&pyz, &payload, &options(Compression::DEFAULT, 2), &Silent);
    let pyz = pyz.to_str().unwrap();
    for python in pythons() {
        let listing = run_python(&python, &["-m", "zipfile", "-l", pyz]);
        assert!(
            listing.contains(PAYLOAD_NAME) && listing.contains("environment.json"),
            "{listing}"
        );
        run_python(&python, &["-m", "zipfile", "-t", pyz]);
        let imported = run_python(&python, &["-c", "import sys; sys.path.insert(0, sys.argv[1]); import _rshiv; print(_rshiv.__file__)", pyz]);
        assert!(
            imported.trim().ends_with("_rshiv/__init__.py"),
            "{imported}"
        );
    }
}

#[test]
fn output_is_identical_across_threads_and_source_directories() {
    let files = busy_tree();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let here = materialize(a.path(), &files);
    let there = materialize(&b.path().join("elsewhere/deeper"), &files);
    for compression in [
        Compression::DEFAULT,
        Compression::Stored,
        Compression::Bzip2(1),
        Compression::Lzma(0),
    ] {
        let (summary, reference) = pack(&here, &options(compression, 1));
        for threads in [2, 8, 0] {
            assert!(
                pack(&here, &options(compression, threads)).1 == reference,
                "{compression}, {threads} threads"
            );
        }
        let (other, elsewhere) = pack(&there, &options(compression, 3));
        assert!(elsewhere == reference, "{compression}, other directory");
        assert_eq!(other.build_id, summary.build_id);
    }
}

/// The build id as `archive`'s documentation defines it.
fn expected_build_id(files: &[Spec]) -> String {
    let mut hasher = Sha256::new();
    for (path, data, executable) in files {
        hasher.update(path.as_bytes());
        hasher.update(if *executable {
            b"\x00100755\x00"
        } else {
            b"\x00100644\x00"
        });
        hasher.update(Sha256::digest(data));
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn build_id_follows_paths_contents_and_modes_only() {
    let files = sample_tree();
    let id_of = |files: &[Spec], compression: Compression| {
        let dir = tempfile::tempdir().unwrap();
        pack(&materialize(dir.path(), files), &options(compression, 2))
            .0
            .build_id
    };
    let id = id_of(&files, Compression::DEFAULT);
    assert_eq!(id, expected_build_id(&files));
    for compression in all_methods() {
        assert_eq!(id_of(&files, compression), id, "{compression}");
    }

    let mut one_byte = files.clone();
    one_byte[2].1[0] ^= 1;
    let mut renamed = files.clone();
    renamed[2].0.push('x');
    renamed.sort();
    let mut exec_bit = files.clone();
    exec_bit[2].2 = !exec_bit[2].2;
    for changed in [one_byte, renamed, exec_bit] {
        assert_ne!(id_of(&changed, Compression::DEFAULT), id);
    }

    let dir = tempfile::tempdir().unwrap();
    let forced = PackOptions {
        build_id: Some("my-id".into()),
        ..options(Compression::DEFAULT, 2)
    };
    assert_eq!(
        pack(&materialize(dir.path(), &files), &forced).0.build_id,
        "my-id"
    );
}

#[test]
fn summary_counts_files_and_hashes_python_sources() {
    let files = sample_tree();
    let dir = tempfile::tempdir().unwrap();
    let (summary, bytes) = pack(
        &materialize(dir.path(), &files),
        &options(Compression::DEFAULT, 2),
    );
    assert_eq!(summary.files, files.len());
    assert_eq!(
        summary.unpacked_bytes,
        files.iter().map(|f| f.1.len() as u64).sum::<u64>()
    );
    assert!(summary.payload_bytes > 0 && summary.payload_bytes < bytes.len() as u64);
    let py: Vec<(&String, String)> = files
        .iter()
        .filter(|f| f.0.ends_with(".py"))
        .map(|f| (&f.0, hex_sha256(&f.1)))
        .collect();
    assert_eq!(summary.py_hashes.len(), py.len());
    for (path, hash) in py {
        assert_eq!(summary.py_hashes[path], hash);
    }
    // The payload's data sits right after its local header, which has no extra field.
    let shebang = b"#!/usr/bin/env python3\n";
    assert!(bytes.starts_with(shebang));
    let start = shebang.len() + 30 + PAYLOAD_NAME.len();
    assert_eq!(&bytes[start..start + 4], b"PK\x03\x04");
}

/// Records what packing reports.
#[derive(Default)]
struct Recorder {
    started: Mutex<Vec<(Step, Option<u64>)>>,
    advanced: AtomicU64,
    finished: AtomicU64,
}

impl Progress for Recorder {
    fn start(&self, step: Step, total: Option<u64>) {
        self.started.lock().unwrap().push((step, total));
    }
    fn advance(&self, n: u64) {
        self.advanced.fetch_add(n, Ordering::SeqCst);
    }
    fn finish(&self) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn progress_counts_the_payload_bytes() {
    let files = busy_tree();
    let dir = tempfile::tempdir().unwrap();
    let payload = materialize(dir.path(), &files);
    let recorder = Recorder::default();
    pack_to(
        &dir.path().join("app.pyz"),
        &payload,
        &options(Compression::DEFAULT, 2),
        &recorder,
    );
    let total: u64 = files.iter().map(|f| f.1.len() as u64).sum();
    assert_eq!(
        *recorder.started.lock().unwrap(),
        [(Step::Packing, Some(total))]
    );
    assert_eq!(recorder.advanced.load(Ordering::SeqCst), total);
    assert_eq!(recorder.finished.load(Ordering::SeqCst), 1);
}

/// What `write_pyz` says when it fails.
fn failure(payload: &[PayloadFile], options: &PackOptions) -> String {
    let mut file = tempfile::tempfile().unwrap();
    let err = write_pyz(
        &mut file,
        payload,
        options,
        &Silent,
        &mut |_| Ok(Vec::new()),
    );
    format!("{:#}", err.unwrap_err())
}

#[test]
fn errors_name_the_file_concerned() {
    let dir = tempfile::tempdir().unwrap();
    let mut payload = materialize(dir.path(), &sample_tree());
    let good = options(Compression::DEFAULT, 2);

    let missing = dir.path().join("pkg/gone.py");
    let gone = PayloadFile {
        path: "pkg/data/gone.py".into(),
        source: missing.clone(),
        executable: false,
    };
    payload.insert(5, gone);
    let err = failure(&payload, &good);
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    payload.remove(5);

    payload.swap(0, 1);
    let err = failure(&payload, &good);
    assert!(err.contains("out of order"), "{err}");
    payload.swap(0, 1);

    let no_hash_bang = PackOptions {
        shebang: "/usr/bin/python3".into(),
        ..good.clone()
    };
    assert!(failure(&payload, &no_hash_bang).contains("shebang"));
    let err = failure(&payload, &options(Compression::Deflate(13), 2));
    assert!(err.contains("deflate-13"), "{err}");
}

#[test]
fn zip64_payload_reads_back_in_cpython_3_8() {
    let python = Path::new("/root/.pyenv/versions/3.8.18/bin/python3.8");
    if !python.exists() {
        println!("skipped: {} is absent", python.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sources = materialize(
        dir.path(),
        &[
            ("a".into(), b"tiny\n".to_vec(), false),
            ("b".into(), b"x".repeat(100), true),
        ],
    );
    let mut payload: Vec<PayloadFile> = (0..70_000)
        .map(|i| PayloadFile {
            path: format!("d{:02}/f{i:05}.txt", i % 50),
            ..sources[i % 2].clone()
        })
        .collect::<Vec<_>>();
    payload.sort_by(|a, b| a.path.cmp(&b.path));
    let pyz = dir.path().join("many.pyz");
    let mut file = std::fs::File::create(&pyz).unwrap();
    let tail = vec![TailMember {
        name: "__main__.py".into(),
        data: b"pass\n".to_vec(),
        deflate: false,
    }];
    write_pyz(
        &mut file,
        &payload,
        &options(Compression::DEFAULT, 2),
        &Silent,
        &mut |_| Ok(tail.clone()),
    )
    .unwrap();
    drop(file);
    let script = r#"
import io, sys, zipfile
outer = zipfile.ZipFile(sys.argv[1])
inner = zipfile.ZipFile(io.BytesIO(outer.read("_rshiv/payload.zip")))
infos = inner.infolist()
assert len(infos) == 70000, len(infos)
assert inner.testzip() is None
assert inner.read("d00/f00000.txt") == b"tiny\n"
assert inner.read("d01/f00001.txt") == b"x" * 100
assert infos[-1].external_attr >> 16 == 0o100755, oct(infos[-1].external_attr)
print(len(infos), outer.namelist())
"#;
    let out = run_python(python, &["-c", script, pyz.to_str().unwrap()]);
    assert_eq!(out.trim(), "70000 ['_rshiv/payload.zip', '__main__.py']");
}

#[test]
fn an_empty_payload_is_a_valid_pyz() {
    let dir = tempfile::tempdir().unwrap();
    let pyz = dir.path().join("empty.pyz");
    let (summary, _) = pack_to(&pyz, &[], &options(Compression::DEFAULT, 0), &Silent);
    assert_eq!(summary.build_id, hex_sha256(b""));
    let script = "import sys, zipfile; outer = zipfile.ZipFile(sys.argv[1]); \
                  print(len(zipfile.ZipFile(outer.open('_rshiv/payload.zip')).namelist()))";
    let out = run_python(Path::new("python3"), &["-c", script, pyz.to_str().unwrap()]);
    assert_eq!(out.trim(), "0");
}
