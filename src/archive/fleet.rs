//! One payload for several targets (issue 14): every distinct file of the targets' trees
//! stored once, and `_rshiv/targets.txt`, which says which files make each target's tree.
//!
//! # Format (multi-target `rshiv-1`)
//!
//! * The first variant of a path, in target order (the variant of the lowest-numbered
//!   target that has the path), is stored under its plain path, as a single-target payload
//!   stores it; the i-th further distinct variant (i = 1, 2, ...; distinct by mode and
//!   contents) as `_rshiv/<i>/<path>`. Entries are sorted by member name, as always.
//! * `_rshiv/targets.txt` (an outer member, see [`super::bootstrap::member::TARGETS`]), UTF-8
//!   lines ending in `\n`: the line [`MANIFEST_HEADER`], then per target a line
//!   `target <build id>` followed by its `missing <path>` and `variant <i> <path>` lines.
//!   Target k extracts every plain path not in its `missing`, reading a path in its
//!   `variant`s from `_rshiv/<i>/<path>` instead, and nothing else under `_rshiv/`. Lines,
//!   not JSON, so that a first run need not import `json` (and `re`) to read it; a path
//!   with a line break is refused.
//! * Each target's `build_id` is the one a single-target build of its tree gets, so its
//!   extraction directory is the same.
//!
//! A target's tree with a top-level `_rshiv/` is refused: the name is the format's.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

use super::pack::{BuildId, PayloadFile};

/// The prefix of the payload's further variants, and the tree name a target may not use.
pub const VARIANTS_DIR: &str = "_rshiv/";

/// The first line of `_rshiv/targets.txt`: the manifest format and its version.
pub const MANIFEST_HEADER: &str = "rshiv-targets 1";

/// `_rshiv/targets.txt`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub targets: Vec<TargetFiles>,
}

/// Which payload members make one target's tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetFiles {
    pub build_id: String,
    /// Plain payload paths this target does not have, sorted.
    pub missing: Vec<String>,
    /// Paths this target reads from `_rshiv/<i>/<path>`.
    pub variants: BTreeMap<String, u32>,
}

impl Manifest {
    /// The member's bytes, in target order, paths sorted. Deterministic.
    pub fn to_text(&self) -> Vec<u8> {
        let mut text = format!("{MANIFEST_HEADER}\n");
        for target in &self.targets {
            text += &format!("target {}\n", target.build_id);
            for path in &target.missing {
                text += &format!("missing {path}\n");
            }
            for (path, i) in &target.variants {
                text += &format!("variant {i} {path}\n");
            }
        }
        text.into_bytes()
    }
}

/// What one target's tree is, apart from the shared payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSummary {
    pub build_id: String,
    pub files: u64,
    pub unpacked_bytes: u64,
}

/// The payload that serves every target, in member order, and how to take each apart.
#[derive(Debug)]
pub struct Merged {
    pub payload: Vec<PayloadFile>,
    pub manifest: Manifest,
    /// Per target, in order.
    pub trees: Vec<TreeSummary>,
}

/// `_rshiv/<i>/<path>`: where the i-th further variant of `path` is stored.
pub fn variant_member(i: u32, path: &str) -> String {
    format!("{VARIANTS_DIR}{i}/{path}")
}

/// A file's identity in the payload: mode and contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Content {
    executable: bool,
    sha256: [u8; 32],
}

/// Merge the targets' trees (each sorted by path, as `stage` makes them) into one payload.
/// Every file is read once here, to hash it.
pub fn merge(trees: &[Vec<PayloadFile>]) -> Result<Merged> {
    let mut hashed: Vec<Vec<(Content, u64)>> = Vec::with_capacity(trees.len());
    for tree in trees {
        if let Some(file) = tree.iter().find(|f| f.path.starts_with(VARIANTS_DIR)) {
            bail!(
                "the payload has {}: a top-level {VARIANTS_DIR} is reserved for a multi-target pyz's own files",
                file.path
            );
        }
        if let Some(file) = tree.iter().find(|f| f.path.contains(['\n', '\r'])) {
            bail!(
                "the payload has a path with a line break, {:?}: a multi-target pyz cannot list it",
                file.path
            );
        }
        hashed.push(tree.iter().map(hash_file).collect::<Result<_>>()?);
    }

    // Per path: its distinct variants in target order, with the file that holds each.
    let mut variants: BTreeMap<&str, Vec<(Content, &PayloadFile)>> = BTreeMap::new();
    let mut manifest = Manifest::default();
    let mut summaries = Vec::with_capacity(trees.len());
    for (tree, hashes) in trees.iter().zip(&hashed) {
        let mut build_id = BuildId::default();
        let mut target = TargetFiles::default();
        for (file, (content, _)) in tree.iter().zip(hashes) {
            build_id.add(&file.path, content.executable, &content.sha256);
            let known = variants.entry(&file.path).or_default();
            let index = match known.iter().position(|(c, _)| c == content) {
                Some(index) => index,
                None => {
                    known.push((*content, file));
                    known.len() - 1
                }
            };
            if index > 0 {
                target.variants.insert(file.path.clone(), index as u32);
            }
        }
        target.build_id = build_id.finish();
        summaries.push(TreeSummary {
            build_id: target.build_id.clone(),
            files: tree.len() as u64,
            unpacked_bytes: hashes.iter().map(|(_, size)| size).sum(),
        });
        manifest.targets.push(target);
    }
    for (target, tree) in manifest.targets.iter_mut().zip(trees) {
        let mut have = tree.iter().map(|f| f.path.as_str()).peekable();
        for path in variants.keys() {
            if have.peek() == Some(path) {
                have.next();
            } else {
                target.missing.push(path.to_string());
            }
        }
    }

    let mut payload: Vec<PayloadFile> = variants
        .iter()
        .flat_map(|(path, known)| {
            known.iter().enumerate().map(move |(i, (_, file))| {
                let path = match i {
                    0 => path.to_string(),
                    i => variant_member(i as u32, path),
                };
                PayloadFile {
                    path,
                    ..(*file).clone()
                }
            })
        })
        .collect();
    payload.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Merged {
        payload,
        manifest,
        trees: summaries,
    })
}

/// Mode, sha256 and size of a payload file.
fn hash_file(file: &PayloadFile) -> Result<(Content, u64)> {
    let mut reader = fs_err::File::open(&file.source)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    let content = Content {
        executable: file.executable,
        sha256: hasher.finalize().into(),
    };
    Ok((content, size))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn tree(dir: &Path, tag: &str, files: &[(&str, &str, bool)]) -> Vec<PayloadFile> {
        let mut out: Vec<PayloadFile> = files
            .iter()
            .map(|(path, text, executable)| {
                let source = dir.join(format!("{tag}-{}", path.replace('/', "_")));
                std::fs::write(&source, text).unwrap();
                PayloadFile {
                    path: path.to_string(),
                    source,
                    executable: *executable,
                }
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    fn names(payload: &[PayloadFile]) -> Vec<&str> {
        payload.iter().map(|f| f.path.as_str()).collect()
    }

    /// Shared files once, differing ones as variants, a path of a later target only
    /// plainly stored and missing for the others; each target's id that of its own tree.
    #[test]
    fn identical_files_are_stored_once_and_variants_apart() {
        let dir = tempfile::tempdir().unwrap();
        let a = tree(
            dir.path(),
            "a",
            &[("app.py", "app", false), ("ext.so", "cp38", false)],
        );
        let b = tree(
            dir.path(),
            "b",
            &[
                ("app.py", "app", false),
                ("ext.so", "cp312", false),
                ("new.py", "new", false),
            ],
        );
        let c = tree(
            dir.path(),
            "c",
            &[("app.py", "app", true), ("ext.so", "cp312", false)],
        );
        let merged = merge(&[a.clone(), b.clone(), c.clone()]).unwrap();
        assert_eq!(
            names(&merged.payload),
            [
                "_rshiv/1/app.py",
                "_rshiv/1/ext.so",
                "app.py",
                "ext.so",
                "new.py"
            ]
        );
        let targets = &merged.manifest.targets;
        assert_eq!(targets[0].missing, ["new.py"]);
        assert!(targets[0].variants.is_empty());
        assert!(targets[1].missing.is_empty());
        assert_eq!(targets[1].variants, [("ext.so".to_string(), 1)].into());
        assert_eq!(targets[2].missing, ["new.py"]);
        assert_eq!(
            targets[2].variants,
            [("app.py".to_string(), 1), ("ext.so".to_string(), 1)].into()
        );
        for (k, single) in [a, b, c].into_iter().enumerate() {
            let alone = merge(&[single]).unwrap();
            assert_eq!(alone.trees[0], merged.trees[k], "target {k}");
            assert_eq!(targets[k].build_id, merged.trees[k].build_id);
        }
        assert_eq!(merged.trees[1].files, 3);
        assert_eq!(merged.trees[1].unpacked_bytes, 3 + 5 + 3);
        let ids = merged.trees.iter().map(|t| t.build_id.as_str());
        let ids: Vec<&str> = ids.collect();
        let expected = format!(
            "rshiv-targets 1\ntarget {}\nmissing new.py\ntarget {}\nvariant 1 ext.so\n\
             target {}\nmissing new.py\nvariant 1 app.py\nvariant 1 ext.so\n",
            ids[0], ids[1], ids[2]
        );
        assert_eq!(
            String::from_utf8(merged.manifest.to_text()).unwrap(),
            expected
        );
    }

    #[test]
    fn a_path_with_a_line_break_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bad = tree(dir.path(), "a", &[("a\nb.py", "", false)]);
        let err = merge(&[bad]).unwrap_err().to_string();
        assert!(
            err.contains("line break") && err.contains("a\\nb.py"),
            "{err}"
        );
    }

    #[test]
    fn a_tree_with_the_reserved_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bad = tree(dir.path(), "a", &[("_rshiv/x.py", "", false)]);
        let err = merge(&[bad]).unwrap_err().to_string();
        assert!(
            err.contains("_rshiv/x.py") && err.contains("reserved"),
            "{err}"
        );
    }

    /// The bootstrap's reader (`target_files` of bootstrap/unpack.py) gives back each
    /// target's files from what `to_text` writes, paths with spaces and non-ASCII included;
    /// a damaged line or an unknown build id is the archive's one-line error.
    #[test]
    fn the_bootstrap_reads_the_manifest_back() {
        let manifest = Manifest {
            targets: vec![
                TargetFiles {
                    build_id: "a1".into(),
                    missing: vec!["new dir/é x.py".into(), "z.py".into()],
                    variants: BTreeMap::new(),
                },
                TargetFiles {
                    build_id: "b2".into(),
                    missing: vec![],
                    variants: [("ext 1.so".to_string(), 1), ("m.py".to_string(), 12)].into(),
                },
                TargetFiles::default(),
            ],
        };
        let dir = tempfile::tempdir().unwrap();
        crate::archive::bootstrap::write_package(dir.path());
        let script = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
from _rshiv import unpack
data = sys.stdin.buffer.read()
out = [unpack.target_files(data, i) for i in ("a1", "b2", "")]
for bad, wanted in ((data.replace(b"variant 1 ", b"variant x "), "b2"), (data, "c3"),
                    (b"rshiv-targets 2\n", "a1")):
    try:
        unpack.target_files(bad, wanted)
    except unpack.Fatal as error:
        out.append(str(error))
print(json.dumps(out))
"#;
        let mut child = std::process::Command::new("python3")
            .args(["-I", "-c", script])
            .arg(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run python3");
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&manifest.to_text()).unwrap();
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        let out: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        for (k, target) in manifest.targets.iter().enumerate() {
            assert_eq!(out[k]["missing"], serde_json::json!(target.missing), "{k}");
            assert_eq!(
                out[k]["variants"],
                serde_json::json!(target.variants),
                "{k}"
            );
        }
        assert_eq!(
            out[3],
            "the archive is damaged: _rshiv/targets.txt line 6: 'variant x ext 1.so'"
        );
        assert_eq!(
            out[4],
            "the archive is damaged: _rshiv/targets.txt: no target of build id c3"
        );
        assert_eq!(
            out[5],
            "the archive is damaged: _rshiv/targets.txt does not start with 'rshiv-targets 1'"
        );
    }
}
