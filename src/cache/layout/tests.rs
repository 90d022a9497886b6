//! The layout's own rules, and the drift test: the bootstrap's copies of the names and
//! of root resolution, run by a real Python, must give what this module gives.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::*;
use crate::archive::bootstrap::{self, member};
use crate::archive::pack::PAYLOAD_NAME;

fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| OsString::from(v))
    }
}

#[test]
fn names_round_trip() {
    assert_eq!(
        parse_tmp(&tmp_name("my-app_abc", 12, "x9z")),
        Some("my-app_abc")
    );
    assert_eq!(
        parse_trash(&trash_name("my-app_abc", 12, "x9z")),
        Some("my-app_abc")
    );
    assert_eq!(parse_trash(".trash-api_abc-x-x9z"), None);
    assert_eq!(parse_trash(".trash-api_abc"), None);
    assert_eq!(parse_tmp(".api_abc.tmp-x-1"), None);
    assert_eq!(parse_tmp("api_abc.tmp-1-a"), None);
    assert_eq!(lock_name("api_1"), ".api_1.lock");
    assert_eq!(
        bootstrap_copy("runtime", 0xab),
        ".rshiv/runtime-000000ab.py"
    );
    let marker = Marker {
        name: "my_app".into(),
        build_id: "b_2".into(),
        files: 3,
        unpacked_bytes: 40,
    };
    assert_eq!(Marker::parse(&marker.render()), Some(marker));
    assert_eq!(Marker::parse("name=a\nbuild_id=b\n"), None);
}

#[test]
fn roots_resolve_in_order() {
    let at = |pairs: &[(&str, &str)], baked: Option<&str>| cache_root(&vars(pairs), baked);
    let home = ("HOME", "/home/ops");
    let path = |p: &str| Some(PathBuf::from(p));
    assert_eq!(
        at(&[home, ("RSHIV_ROOT", "/r"), ("SHIV_ROOT", "/s")], None),
        path("/r")
    );
    assert_eq!(
        at(&[home, ("RSHIV_ROOT", ""), ("SHIV_ROOT", "~/s")], None),
        path("/home/ops/s")
    );
    assert_eq!(
        at(&[home, ("XDG_CACHE_HOME", "/x")], Some("$APPS/c")),
        path("/x/rshiv")
    );
    assert_eq!(at(&[home, ("APPS", "/a")], Some("$APPS/c")), path("/a/c"));
    assert_eq!(at(&[home, ("APPS", "/a")], Some("$APPS")), path("/a"));
    assert_eq!(at(&[home], Some("/srv/cache")), path("/srv/cache"));
    assert_eq!(
        at(&[home, ("XDG_CACHE_HOME", "rel")], None),
        path("/home/ops/.cache/rshiv")
    );
    assert_eq!(at(&[], None), None);
    assert_eq!(
        fallback_root(&vars(&[("TMPDIR", "/t")]), 7),
        Path::new("/t/rshiv-7")
    );
    assert_eq!(fallback_root(&vars(&[]), 7), Path::new("/tmp/rshiv-7"));
    let dir = tempfile::tempdir().unwrap();
    let open = [("TMPDIR", open_tmpdir(&dir))];
    assert_eq!(fallback_root(&vars(&open), 7), Path::new("/tmp/rshiv-7"));
}

/// An environment and a baked `--root`.
type Case = (Vec<(&'static str, &'static str)>, Option<&'static str>);

/// A TMPDIR anyone may write (not sticky) inside `dir`: both sides must then put the
/// fallback under /tmp. (Leaked as a `&'static str` for the case table.)
fn open_tmpdir(dir: &tempfile::TempDir) -> &'static str {
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o777);
    std::fs::set_permissions(&open, mode).unwrap();
    Box::leak(open.to_string_lossy().into_owned().into_boxed_str())
}

/// The cases the drift test gives both sides.
fn cases(open: &'static str) -> Vec<Case> {
    let home = ("HOME", "/home/ops");
    vec![
        (vec![home, ("TMPDIR", open)], None),
        (vec![home, ("RSHIV_ROOT", "/r"), ("SHIV_ROOT", "/s")], None),
        (vec![home, ("SHIV_ROOT", "/s")], Some("/baked")),
        (vec![home, ("SHIV_ROOT", "~/s")], None),
        (vec![home, ("RSHIV_ROOT", "rel/root")], None),
        (vec![home, ("XDG_CACHE_HOME", "/x")], None),
        (vec![home, ("XDG_CACHE_HOME", "rel")], None),
        (vec![home], Some("/srv/cache")),
        (vec![home, ("APPS", "/a")], Some("$APPS/c")),
        (vec![home, ("APPS", "/a")], Some("$APPS")),
        (vec![home, ("XDG_CACHE_HOME", "/x")], Some("$UNSET/c")),
        (vec![home, ("TMPDIR", "/t")], None),
    ]
}

/// Run the bootstrap's own functions on every case, and on the names, in a real Python.
fn bootstrap_answers(open: &'static str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    bootstrap::write_package(dir.path());
    let cases: Vec<Value> = cases(open)
        .into_iter()
        .map(|(env, baked)| json!({"env": BTreeMap::from_iter(env), "root": baked}))
        .collect();
    let script = r#"
import json, os, sys
sys.path.insert(0, sys.argv[1])
from _rshiv import bytecode, extract, runtime, stub, unpack
runtime.boot = stub
out = {"roots": [], "fallbacks": []}
for case in json.loads(sys.stdin.read()):
    os.environ.clear()
    os.environ.update(case["env"])
    out["roots"].append(stub.cache_root({"root": case["root"]}))
    out["fallbacks"].append(stub.fallback_root())
baked = {"name": "my_app", "build_id": "b_2", "root": None}
out["stem"] = os.path.basename(stub.extraction_dir("/r", baked))
out["lock"] = extract.lock_name("api_1")
out["lock_tmp"] = extract.lock_tmp_name("api_1", 12, "x9z")
out["tmp"] = extract.tmp_name("api_1", 12, "x9z")
out["trash"] = extract.trash_name("api_1", 12, "x9z")
out["marker_text"] = extract.marker_text("my_app", "b_2", 3, 40)
out["consts"] = {
    "MARKER": stub.MARKER, "COPY": stub.COPY % ("bytecode", 0xAB), "SOURCES": runtime.SOURCES,
    "RUNTIME": stub.RUNTIME, "BYTECODE": stub.BYTECODE, "TARGET": stub.TARGET, "EXTRACT": runtime.EXTRACT, "UNPACK": runtime.UNPACK, "MIRROR": bytecode.MIRROR, "PAYLOAD": unpack.PAYLOAD, "TARGETS": unpack.TARGETS, "VARIANTS": unpack.VARIANTS, "VARIANT": unpack.variant_member(2, "pkg/mod.py"), "ENVIRONMENT": runtime.ENVIRONMENT,
    "MARKER_VERSION": extract.MARKER_VERSION,
}
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-I", "-c", script])
        .arg(dir.path())
        .current_dir(std::env::current_dir().unwrap())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_bootstrap_follows_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let open = open_tmpdir(&dir);
    let answers = bootstrap_answers(open);
    let uid = crate::cache::current_uid();
    for (i, (env, baked)) in cases(open).into_iter().enumerate() {
        let var = vars(&env);
        let root = cache_root(&var, baked).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(
            answers["roots"][i].as_str(),
            root.as_deref(),
            "case {env:?} {baked:?}"
        );
        let fallback = fallback_root(&var, uid);
        assert_eq!(
            answers["fallbacks"][i].as_str(),
            fallback.to_str(),
            "case {env:?}"
        );
    }
    assert_eq!(answers["stem"], stem("my_app", "b_2"));
    assert_eq!(answers["lock"], lock_name("api_1"));
    assert_eq!(answers["lock_tmp"], lock_tmp_name("api_1", 12, "x9z"));
    assert_eq!(answers["tmp"], tmp_name("api_1", 12, "x9z"));
    assert_eq!(answers["trash"], trash_name("api_1", 12, "x9z"));
    let marker = Marker {
        name: "my_app".into(),
        build_id: "b_2".into(),
        files: 3,
        unpacked_bytes: 40,
    };
    assert_eq!(answers["marker_text"], marker.render());
    let consts = &answers["consts"];
    assert_eq!(consts["MARKER"], MARKER);
    assert_eq!(consts["COPY"], bootstrap_copy("bytecode", 0xab));
    assert_eq!(consts["SOURCES"], SOURCES);
    assert_eq!(consts["MARKER_VERSION"], MARKER_VERSION);
    assert_eq!(consts["RUNTIME"], member::RUNTIME);
    assert_eq!(consts["BYTECODE"], member::BYTECODE);
    assert_eq!(consts["TARGET"], member::TARGET);
    assert_eq!(consts["EXTRACT"], member::EXTRACT);
    assert_eq!(consts["UNPACK"], member::UNPACK);
    assert_eq!(consts["MIRROR"], BYTECODE_MIRROR);
    assert_eq!(consts["ENVIRONMENT"], member::ENVIRONMENT);
    assert_eq!(consts["PAYLOAD"], PAYLOAD_NAME);
    assert_eq!(consts["TARGETS"], member::TARGETS);
    assert_eq!(consts["VARIANTS"], crate::archive::fleet::VARIANTS_DIR);
    assert_eq!(
        consts["VARIANT"],
        crate::archive::fleet::variant_member(2, "pkg/mod.py")
    );
}
