//! `environment.json` (shiv's fields, so `shiv-info` reads it, plus rshiv's) and the
//! constants baked into `__main__.py`.
//!
//! [`Environment`] is the one definition of `environment.json`, for writing it (the build)
//! and reading it back (`rshiv info`): a field an older rshiv or shiv did not write reads
//! as its default, and a field this version does not know is kept in `other`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a distribution in the payload is, from its `*.dist-info/METADATA` (PEP 566/643).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Distribution {
    pub name: String,
    pub version: String,
    /// `License-Expression`, else `License`, else the `License ::` classifiers joined.
    pub license: Option<String>,
    pub summary: Option<String>,
    /// The `Tag:` lines of its `WHEEL` file (`py3-none-any`, `cp311-cp311-manylinux_2_17_x86_64`).
    pub tags: Vec<String>,
    /// `sha256:<hex>` of the wheel that was installed, where a lock names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The lock's file it was installed from (`dep-1.0-cp312-cp312-manylinux_2_17_x86_64.whl`,
    /// or the sdist it was built from), where a lock names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Where the payload's dependencies came from, when a lock pinned them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Provenance {
    /// The lock file, relative to the project (`uv.lock`, `pylock.toml`; a hash-checked
    /// requirements file as given).
    pub lock: String,
    /// sha256 hex of the lock file's bytes.
    pub lock_sha256: String,
    /// `uv.lock`, `pylock` or `requirements`.
    pub lock_kind: String,
    /// The installer and its version (`uv 0.13.9`, `pip 24.0`).
    pub installer: String,
    /// The index URLs the pins were installed from, credentials removed.
    pub index_urls: Vec<String>,
}

/// What the compiled extensions in the payload need from the interpreter running it,
/// derived from the wheel tags (PEP 425). `None` in `Baked::native` means pure Python.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Native {
    /// `[3, 11]` when an extension is built for exactly that CPython (a `cp311` ABI).
    pub python: Option<[u32; 2]>,
    /// `[3, 8]` when the most demanding stable-ABI (`abi3`) extension needs at least that.
    pub abi3: Option<[u32; 2]>,
    /// `sys.platform` that the platform tags need: `linux`, `darwin` or `win32`.
    pub platform: Option<String>,
    /// Acceptable `os.uname().machine` values (`["x86_64"]`, `["aarch64", "arm64"]`).
    pub machines: Vec<String>,
    /// `glibc` or `musl` on Linux.
    pub libc: Option<String>,
    /// Lowest glibc or musl version the manylinux/musllinux tags ask for, `[2, 17]`.
    pub libc_min: Option<[u32; 2]>,
    /// The non-pure tags themselves, for the error message.
    pub tags: Vec<String>,
}

/// The constants baked into `__main__.py` as the `_BAKED` dict. Everything the warm path
/// needs is here, so that a warm start reads nothing from the archive.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Baked {
    /// Format version of this dict and of the archive layout: 1.
    pub format: u32,
    /// The app's name: the output file's stem (`api` for `api.pyz`). The cache directory is
    /// `<root>/<name>_<build_id>`, so renamed copies and symlinks share one extraction.
    pub name: String,
    pub build_id: String,
    /// `module:attr` or `module` (run as `python -m module`).
    pub entry_point: Option<String>,
    /// A script to run as `__main__`, by its payload path (`bin/tool`).
    pub script: Option<String>,
    /// Every `[console_scripts]` entry in the payload: name -> `module:attr`. A pyz invoked
    /// through a symlink named after one of them runs that one.
    pub console_scripts: BTreeMap<String, String>,
    /// The baked default cache root (`--root`); `$VAR` means read VAR at run time.
    pub root: Option<String>,
    /// Names of the `.pth` files at the top of site-packages, sorted.
    pub pth: Vec<String>,
    pub compile_pyc: bool,
    pub extend_pythonpath: bool,
    pub no_modify: bool,
    /// Payload path of the preamble (`bin/preamble.py`).
    pub preamble: Option<String>,
    /// Keep the user's and the system's site-packages off `sys.path`.
    pub isolated: bool,
    /// A successful first run removes older, unused extractions of the same app.
    pub prune_old_builds: bool,
    /// Number of files and their total size, for the status line of a long first run.
    pub files: u64,
    pub unpacked_bytes: u64,
    /// Needs of compiled extensions; `None` for a pure-Python payload.
    pub native: Option<Native>,
    /// A multi-target payload's targets, in build order (issue 14): the bootstrap picks one
    /// and puts its fields in place of the top-level ones, which are target 0's. Absent
    /// (and so not in a single-target `_BAKED` at all) for one target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<BakedTarget>,
}

/// One target of a multi-target payload, as the bootstrap needs it to choose and run it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BakedTarget {
    /// The build id a single-target build of this target's tree gets: its extraction is
    /// `<name>_<build_id>`, as that build's would be.
    pub build_id: String,
    /// `[3, 11]`.
    pub python: [u32; 2],
    /// The platform tag as given (`manylinux2014_x86_64`), or the build machine's own
    /// (`linux_x86_64`).
    pub platform: String,
    pub native: Option<Native>,
    pub files: u64,
    pub unpacked_bytes: u64,
    pub console_scripts: BTreeMap<String, String>,
    pub pth: Vec<String>,
}

impl BakedTarget {
    /// `cp311-manylinux2014_x86_64`: the target in one word (SBOM properties, messages).
    pub fn label(&self) -> String {
        target_label(self.python, &self.platform)
    }
}

/// `cp311-manylinux2014_x86_64`.
pub fn target_label([major, minor]: [u32; 2], platform: &str) -> String {
    format!("cp{major}{minor}-{platform}")
}

/// `environment.json`: shiv 1.0.8's fields with the same names and meanings, then rshiv's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Environment {
    // shiv's fields.
    pub shiv_version: String,
    pub always_write_cache: bool,
    pub build_id: String,
    /// `%Y-%m-%d %H:%M:%S` of the build time (SOURCE_DATE_EPOCH, else 1980-01-01 00:00:00).
    pub built_at: String,
    /// sha256 of each `.py` by payload path, with `--no-modify`; else empty.
    pub hashes: BTreeMap<String, String>,
    pub no_modify: bool,
    pub reproducible: bool,
    pub preamble: Option<String>,
    pub entry_point: Option<String>,
    pub compile_pyc: bool,
    pub extend_pythonpath: bool,
    pub prepend_pythonpath: Option<String>,
    pub root: Option<String>,
    pub script: Option<String>,
    // rshiv's fields.
    pub rshiv_version: String,
    /// `rshiv-1`: the layout described in `archive`.
    pub format: String,
    pub name: String,
    pub console_script: Option<String>,
    pub shebang: String,
    pub compression: String,
    pub files: u64,
    pub unpacked_bytes: u64,
    pub isolated: bool,
    pub prune_old_builds: bool,
    pub distributions: Vec<Distribution>,
    pub native: Option<Native>,
    /// Set for a locked build; absent otherwise (and in files written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// A multi-target payload's targets, in build order; absent for one target (the
    /// top-level `build_id` is then the whole payload's, the rest target 0's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetRecord>,
    /// Fields read from a file that this version does not know (a newer rshiv's, another
    /// tool's); never written by the build, kept for `rshiv info --json`.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// One target of a multi-target payload, in `environment.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TargetRecord {
    /// As [`BakedTarget::build_id`].
    pub build_id: String,
    /// `3.11`.
    pub python: String,
    pub platform: String,
    pub native: Option<Native>,
    pub files: u64,
    pub unpacked_bytes: u64,
    pub distributions: Vec<Distribution>,
}

impl TargetRecord {
    /// The record of `baked`'s target, which has these distributions.
    pub fn of(baked: &BakedTarget, distributions: Vec<Distribution>) -> TargetRecord {
        let [major, minor] = baked.python;
        TargetRecord {
            build_id: baked.build_id.clone(),
            python: format!("{major}.{minor}"),
            platform: baked.platform.clone(),
            native: baked.native.clone(),
            files: baked.files,
            unpacked_bytes: baked.unpacked_bytes,
            distributions,
        }
    }

    /// `cp311-manylinux2014_x86_64`; `None` when `python` is not `X.Y`.
    pub fn label(&self) -> Option<String> {
        let (major, minor) = self.python.split_once('.')?;
        Some(target_label(
            [major.parse().ok()?, minor.parse().ok()?],
            &self.platform,
        ))
    }
}

impl Environment {
    /// `environment.json`'s bytes: pretty-printed with two-space indents, fields in the
    /// order declared above, maps sorted by key, and a final newline. Deterministic.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        Ok(json)
    }
}

/// shiv's format version that environment.json mirrors, for tools that read it.
const SHIV_FORMAT_VERSION: &str = "1.0.8";

impl Environment {
    /// The fields that restate the baked constants, under shiv's names and ours; the
    /// build fills in the rest (`built_at`, `hashes`, `shebang`, `distributions`, ...).
    pub fn from_baked(baked: &Baked) -> Environment {
        Environment {
            shiv_version: SHIV_FORMAT_VERSION.to_string(),
            build_id: baked.build_id.clone(),
            no_modify: baked.no_modify,
            reproducible: true,
            preamble: baked.preamble.clone(),
            entry_point: baked.entry_point.clone(),
            compile_pyc: baked.compile_pyc,
            extend_pythonpath: baked.extend_pythonpath,
            root: baked.root.clone(),
            script: baked.script.clone(),
            rshiv_version: env!("CARGO_PKG_VERSION").to_string(),
            format: "rshiv-1".to_string(),
            name: baked.name.clone(),
            files: baked.files,
            unpacked_bytes: baked.unpacked_bytes,
            isolated: baked.isolated,
            prune_old_builds: baked.prune_old_builds,
            native: baked.native.clone(),
            ..Environment::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_json_is_pretty_ordered_and_ends_with_a_newline() {
        let env = Environment {
            shiv_version: "1.0.8".into(),
            build_id: "abc".into(),
            hashes: [
                ("b.py".to_string(), "2".to_string()),
                ("a.py".to_string(), "1".to_string()),
            ]
            .into(),
            name: "caf\u{e9}".into(),
            ..Environment::default()
        };
        let text = String::from_utf8(env.to_json().unwrap()).unwrap();
        assert!(text.starts_with("{\n  \"shiv_version\": \"1.0.8\",\n  \"always_write_cache\": false,\n  \"build_id\": \"abc\",\n"), "{text}");
        assert!(
            text.contains("\"hashes\": {\n    \"a.py\": \"1\",\n    \"b.py\": \"2\"\n  },"),
            "{text}"
        );
        assert!(text.ends_with("\"native\": null\n}\n"), "{text}");
        let back: Environment = serde_json::from_str(&text).unwrap();
        assert_eq!(back, env);
        assert_eq!(env.to_json().unwrap(), env.clone().to_json().unwrap());
    }

    /// Every field environment.json shares with the baked dict restates it: a field added
    /// to both but not to `from_baked` fails here (`format` is spelled differently on purpose).
    #[test]
    fn environment_restates_every_baked_field() {
        let baked = Baked {
            format: 1,
            name: "app".into(),
            build_id: "id".into(),
            entry_point: Some("app:main".into()),
            script: Some("bin/app".into()),
            console_scripts: [("app".to_string(), "app:main".to_string())].into(),
            root: Some("$ROOT".into()),
            pth: vec!["a.pth".into()],
            compile_pyc: true,
            extend_pythonpath: true,
            no_modify: true,
            preamble: Some("bin/pre.py".into()),
            isolated: true,
            prune_old_builds: true,
            files: 3,
            unpacked_bytes: 4,
            native: Some(Native {
                python: Some([3, 11]),
                ..Native::default()
            }),
            targets: vec![BakedTarget::default()],
        };
        let baked_json = serde_json::to_value(&baked).unwrap();
        let env_json = serde_json::to_value(Environment::from_baked(&baked)).unwrap();
        let defaults = serde_json::to_value(Baked::default()).unwrap();
        for (key, value) in baked_json.as_object().unwrap() {
            assert_ne!(value, &defaults[key], "set {key} in this test");
            if let Some(restated) = env_json.get(key).filter(|_| key != "format") {
                assert_eq!(restated, value, "environment.json's {key}");
            }
        }
    }

    /// shiv's file (and an older rshiv's) lacks rshiv's fields: they read as defaults; a
    /// field nobody here knows is kept, and written back where it was read.
    #[test]
    fn missing_fields_default_and_unknown_ones_are_kept() {
        let shiv = r#"{"shiv_version": "1.0.8", "build_id": "ab", "entry_point": null,
            "script": "bin/tool", "hashes": {}, "always_write_cache": false,
            "distributions": [{"name": "x"}], "interpreter": "/usr/bin/python3"}"#;
        let env: Environment = serde_json::from_str(shiv).unwrap();
        assert_eq!(env.script.as_deref(), Some("bin/tool"));
        assert_eq!(env.rshiv_version, "");
        assert_eq!(env.files, 0);
        assert_eq!(env.distributions[0].version, "");
        assert_eq!(env.other["interpreter"], "/usr/bin/python3");
        let again: serde_json::Value = serde_json::from_slice(&env.to_json().unwrap()).unwrap();
        assert_eq!(again["interpreter"], "/usr/bin/python3");
    }
}
