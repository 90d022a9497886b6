//! The golden build: one fixed payload, built with fixed options, must give the build id
//! and bytes checked in here. A refactor that is meant to change nothing is checked against
//! these values; a change that alters the format on purpose updates them in the same commit.

use sha2::{Digest, Sha256};

use crate::support::{pyz::PAYLOAD, Pyz, Test};

/// The build id: sha256 over the payload's paths, modes and contents.
const BUILD_ID: &str = "858a74452076da1854d57356e4af2617586853bae082024ef6af1aed258a6b56";
/// sha256 of the inner payload zip: the payload's bytes, timestamps and compression.
const PAYLOAD_SHA256: &str = "f8b9193ad44b34d99a81398645e6f605266ffab0446f97f2a9a978ef639ab0ae";
/// sha256 of `environment.json`: the baked settings and their serialization.
const ENVIRONMENT_SHA256: &str = "91ee2df63dcbb6936241d8be82e06ade0d4fce549c70fac1b41dd9fade3be0ad";
/// sha256 of the whole pyz: the above plus the shebang and the bootstrap's files, so a
/// change to `bootstrap/*.py` changes it (and only it) on purpose.
const FILE_SHA256: &str = "2bc8249e25217a6fb5faca117ff64a48ec177eba9f6cea14184c93c946d02d54";

/// A `--site-packages` tree (no installer, no interpreter, no index) with names whose
/// bytewise order differs from a locale's, an executable, an empty file, a compressible
/// and an incompressible member, and a `.dist-info` with an entry point.
fn write_payload(t: &Test) {
    t.write(
        "sp/golden/__init__.py",
        "def main():\n    print('golden')\n",
    );
    t.write("sp/golden/Zeta.py", "Z = 1\n");
    t.write("sp/golden/_under.py", "");
    t.write("sp/golden/été.py", "E = 'é'\n");
    t.write("sp/golden/a/b.py", "B = 2\n");
    t.write("sp/golden/a.b.py", "");
    t.write(
        "sp/golden/data/big.txt",
        "the same line over and over\n".repeat(4000),
    );
    let noise: Vec<u8> = (0u32..20_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    t.write("sp/golden/data/noise.bin", noise);
    let tool = t.write("sp/golden/tool.sh", "#!/bin/sh\necho tool\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    t.write(
        "sp/golden-1.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: golden\nVersion: 1.0\n",
    );
    t.write(
        "sp/golden-1.0.dist-info/entry_points.txt",
        "[console_scripts]\ngolden = golden:main\n",
    );
    t.write("sp/golden-1.0.dist-info/RECORD", "");
    t.write("preamble.py", "import os\n");
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The golden pyz: every value above must match, each checked on its own so a failure
/// says which layer moved. No `python3` on PATH: the bytes are rshiv's alone (with an
/// interpreter, the pyz would also carry its bytecode of `__main__.py` and the stub).
#[test]
fn the_golden_build_is_byte_identical() {
    let t = Test::new();
    write_payload(&t);
    t.rshiv()
        .args(["--site-packages", "sp", "-c", "golden", "-o", "golden.pyz"])
        .args(["-p", "/usr/bin/python3 -sE", "--compile-pyc", "--no-modify"])
        .args(["-E", "--preamble", "preamble.py", "--root", "$GOLDEN_ROOT"])
        .args(["--isolated", "--prune-old-builds", "-j", "2"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("PATH", t.mkdir("empty"))
        .run()
        .success();
    let pyz = Pyz::open(t.path("golden.pyz"));
    let got = [
        (
            "BUILD_ID",
            pyz.environment()["build_id"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        ),
        (
            "PAYLOAD_SHA256",
            hex_sha256(&pyz.outer_member(PAYLOAD).data),
        ),
        (
            "ENVIRONMENT_SHA256",
            hex_sha256(&pyz.outer_member("environment.json").data),
        ),
        ("FILE_SHA256", hex_sha256(&pyz.bytes)),
    ];
    let want = [BUILD_ID, PAYLOAD_SHA256, ENVIRONMENT_SHA256, FILE_SHA256];
    let moved: Vec<String> = got
        .iter()
        .zip(want)
        .filter(|((_, got), want)| got != want)
        .map(|((name, got), want)| format!("{name}: checked in {want:?}, built {got:?}"))
        .collect();
    assert!(
        moved.is_empty(),
        "the golden build changed:\n{}\nenvironment.json: {}",
        moved.join("\n"),
        String::from_utf8_lossy(&pyz.outer_member("environment.json").data)
    );
}
