//! The site-packages tree that becomes the payload.
//!
//! The installer writes into a fresh staging directory; `--site-packages` directories are
//! merged over it (later ones win, as shiv's copy does). Nothing is copied: the payload is a
//! map from archive path to the file on disk. What the installers leave that would make two
//! builds differ, or leak the build machine's paths, is removed or normalized first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use walkdir::WalkDir;

use crate::archive::environment::Distribution;
use crate::archive::PayloadFile;
use crate::metadata;

/// The shebang written into the payload's scripts in place of the build interpreter's path.
const PORTABLE_SHEBANG: &str = "#!/usr/bin/env python3";

/// The payload as it will be written, with what the build learned from it.
#[derive(Debug, Default)]
pub struct Tree {
    /// Payload path -> file, sorted.
    pub files: BTreeMap<String, PayloadFile>,
    pub distributions: Vec<Distribution>,
    /// Every `[console_scripts]` entry of every distribution.
    pub console_scripts: BTreeMap<String, String>,
    /// Top-level `.pth` files, sorted.
    pub pth: Vec<String>,
}

/// Make an installer's output reproducible and free of build-machine paths (PEP 376/610):
/// drop uv's bookkeeping (`.lock`, `uv_cache.json` with timestamps, `uv_build.json`), drop a
/// `direct_url.json` that points at a local directory, point scripts' shebangs at
/// `/usr/bin/env python3`, and keep each `RECORD` consistent with all of that.
pub fn normalize_installed(dir: &Path) -> Result<()> {
    remove_if_exists(&dir.join(".lock"))?;
    for entry in read_dir_sorted(dir)? {
        let name = entry
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.ends_with(".dist-info") || !entry.is_dir() {
            continue;
        }
        let mut removed = BTreeSet::new();
        for bookkeeping in ["uv_cache.json", "uv_build.json"] {
            if remove_if_exists(&entry.join(bookkeeping))? {
                removed.insert(format!("{name}/{bookkeeping}"));
            }
        }
        let direct_url = entry.join("direct_url.json");
        if let Ok(text) = fs_err::read_to_string(&direct_url) {
            if text.contains("\"file:") {
                fs_err::remove_file(&direct_url)?;
                removed.insert(format!("{name}/direct_url.json"));
            }
        }
        let rewritten = rewrite_script_shebangs(dir, &entry)?;
        rewrite_record(&entry.join("RECORD"), &removed, &rewritten)?;
    }
    Ok(())
}

/// Rewrite the shebang of the scripts this distribution's RECORD lists under `bin/`.
/// Returns payload path -> (new RECORD hash, size).
fn rewrite_script_shebangs(
    dir: &Path,
    dist_info: &Path,
) -> Result<BTreeMap<String, (String, u64)>> {
    let mut rewritten = BTreeMap::new();
    let Ok(record) = fs_err::read_to_string(dist_info.join("RECORD")) else {
        return Ok(rewritten);
    };
    for line in record.lines() {
        let path = record_path(line);
        let Some(script) = path
            .rsplit_once("bin/")
            .map(|(_, name)| format!("bin/{name}"))
        else {
            continue;
        };
        let file = dir.join(&script);
        let Ok(bytes) = fs_err::read(&file) else {
            continue;
        };
        let Some(rest) = bytes.strip_prefix(b"#!") else {
            continue;
        };
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let first = String::from_utf8_lossy(&rest[..end]);
        if !first.starts_with('/')
            || !first.contains("python")
            || first.trim() == &PORTABLE_SHEBANG[2..]
        {
            continue;
        }
        let mut new = PORTABLE_SHEBANG.as_bytes().to_vec();
        new.extend_from_slice(&rest[end..]);
        replace_file(&file, &new)?;
        rewritten.insert(script, (record_hash(&new), new.len() as u64));
    }
    Ok(rewritten)
}

/// Drop RECORD lines of removed files and refresh those of rewritten ones (PEP 376: path,
/// `sha256=<urlsafe base64, no padding>`, size).
fn rewrite_record(
    record: &Path,
    removed: &BTreeSet<String>,
    rewritten: &BTreeMap<String, (String, u64)>,
) -> Result<()> {
    if removed.is_empty() && rewritten.is_empty() {
        return Ok(());
    }
    let Ok(text) = fs_err::read_to_string(record) else {
        return Ok(());
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let path = record_path(line);
        if removed.contains(path) {
            continue;
        }
        let script = path
            .rsplit_once("bin/")
            .map(|(_, name)| format!("bin/{name}"));
        match script.as_ref().and_then(|s| rewritten.get(s)) {
            Some((hash, size)) => out.push_str(&format!("{path},sha256={hash},{size}")),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    replace_file(record, out.as_bytes())
}

/// Write `bytes` as a new file at `path`. uv installs by hard-linking from its cache, so
/// writing into the existing inode could change the cache itself.
/// The file's permissions are kept.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let permissions = fs_err::metadata(path)?.permissions();
    fs_err::remove_file(path)?;
    fs_err::write(path, bytes)?;
    fs_err::set_permissions(path, permissions)?;
    Ok(())
}

/// The path column of a RECORD line (the hash and size never contain commas).
fn record_path(line: &str) -> &str {
    let mut parts = line.rsplitn(3, ',');
    let (_, _, path) = (parts.next(), parts.next(), parts.next());
    path.unwrap_or(line).trim_matches('"')
}

/// sha256 as RECORD writes it: urlsafe base64 without padding.
fn record_hash(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(43);
    for chunk in digest.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Gather the payload from `roots` (the staging directory first, then each
/// `--site-packages`); a later root's file replaces an earlier one at the same path.
pub fn collect(roots: &[PathBuf]) -> Result<Tree> {
    let mut tree = Tree::default();
    for root in roots {
        add_root(&mut tree.files, root)?;
    }
    read_metadata(&mut tree)?;
    Ok(tree)
}

fn add_root(files: &mut BTreeMap<String, PayloadFile>, root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let walker = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter();
    let entries = walker.filter_entry(|e| e.file_name() != "__pycache__");
    for entry in entries {
        let entry = entry.with_context(|| format!("could not read {}", root.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let Some(path) = relative.to_str() else {
            bail!(
                "{}: file names must be UTF-8 to go into a zip",
                entry.path().display()
            );
        };
        if path.ends_with(".pyc") || path.ends_with(".pyo") {
            continue;
        }
        let mode = entry
            .metadata()
            .with_context(|| format!("could not read {}", entry.path().display()))?
            .permissions()
            .mode();
        let path = path.replace(std::path::MAIN_SEPARATOR, "/");
        files.insert(
            path.clone(),
            PayloadFile {
                path,
                source: entry.into_path(),
                executable: mode & 0o111 != 0,
            },
        );
    }
    Ok(())
}

/// Distributions, console scripts and `.pth` files from the top level of the tree.
fn read_metadata(tree: &mut Tree) -> Result<()> {
    let top_level: Vec<(String, PathBuf)> = tree
        .files
        .iter()
        .filter(|(path, _)| path.matches('/').count() <= 1)
        .map(|(path, file)| (path.clone(), file.source.clone()))
        .collect();
    for (path, source) in &top_level {
        if !path.contains('/') && path.ends_with(".pth") {
            tree.pth.push(path.clone());
        }
        let Some(dist_info) = path
            .strip_suffix("/METADATA")
            .filter(|d| d.ends_with(".dist-info"))
        else {
            continue;
        };
        let text = fs_err::read_to_string(source)?;
        let wheel = tree
            .files
            .get(&format!("{dist_info}/WHEEL"))
            .map(|f| fs_err::read_to_string(&f.source))
            .transpose()?;
        tree.distributions
            .push(metadata::parse_distribution(&text, wheel.as_deref()));
        if let Some(entry_points) = tree.files.get(&format!("{dist_info}/entry_points.txt")) {
            let text = fs_err::read_to_string(&entry_points.source)?;
            tree.console_scripts
                .extend(metadata::console_scripts(&text));
        }
    }
    tree.distributions
        .sort_by_key(|d| metadata::normalize_name(&d.name));
    Ok(())
}

/// What `-c NAME` means in this tree: a console script's entry point, else a script file.
#[derive(Debug, PartialEq, Eq)]
pub enum ConsoleTarget {
    EntryPoint(String),
    Script(String),
}

impl Tree {
    /// shiv's lookup: `[console_scripts]` first, then a file `bin/NAME`.
    pub fn resolve_console_script(&self, name: &str) -> Result<ConsoleTarget> {
        if let Some(entry_point) = self.console_scripts.get(name) {
            return Ok(ConsoleTarget::EntryPoint(entry_point.clone()));
        }
        let script = format!("bin/{name}");
        if self.files.contains_key(&script) {
            return Ok(ConsoleTarget::Script(script));
        }
        let available: Vec<&str> = self.console_scripts.keys().map(String::as_str).collect();
        if available.is_empty() {
            bail!("console script {name:?} not found: the payload has no console scripts");
        }
        bail!(
            "console script {name:?} not found; the payload has: {}",
            available.join(", ")
        )
    }

    /// Whether the dotted `module` is in the tree, as a module, package or extension.
    pub fn has_module(&self, module: &str) -> bool {
        let base = module.replace('.', "/");
        let package = format!("{base}/");
        if self
            .files
            .range(package.clone()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&package))
        {
            return true;
        }
        let (dir, stem) = base
            .rsplit_once('/')
            .map_or(("", base.as_str()), |(d, s)| (d, s));
        let prefix = if dir.is_empty() {
            format!("{stem}.")
        } else {
            format!("{dir}/{stem}.")
        };
        self.files
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .any(|(p, _)| {
                let rest = &p[prefix.len()..];
                !rest.contains('/')
                    && (rest == "py" || rest.ends_with("so") || rest.ends_with("pyd"))
            })
    }

    /// Add one extra file (the preamble) at `path`.
    pub fn add_file(&mut self, path: String, source: PathBuf) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs_err::metadata(&source)?.permissions().mode();
        self.files.insert(
            path.clone(),
            PayloadFile {
                path,
                source,
                executable: mode & 0o111 != 0,
            },
        );
        Ok(())
    }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = fs_err::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    Ok(entries)
}

/// Remove a file if present; whether it was.
fn remove_if_exists(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("could not remove {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_hash_matches_pythons_urlsafe_b64() {
        // python3 -c "import hashlib,base64;print(base64.urlsafe_b64encode(hashlib.sha256(b'').digest()).rstrip(b'='))"
        assert_eq!(
            record_hash(b""),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        assert_eq!(
            record_hash(b"pip\n"),
            "zuuue4knoyJ-UwPPXg8fezS7VCrXJQrAP7zeNuwvFQg"
        );
    }

    #[test]
    fn record_paths() {
        assert_eq!(
            record_path("../../bin/demo,sha256=abc,227"),
            "../../bin/demo"
        );
        assert_eq!(
            record_path("demo-1.0.dist-info/RECORD,,"),
            "demo-1.0.dist-info/RECORD"
        );
    }

    fn tree_with(paths: &[&str]) -> Tree {
        let mut tree = Tree::default();
        for p in paths {
            tree.files.insert(
                p.to_string(),
                PayloadFile {
                    path: p.to_string(),
                    source: PathBuf::new(),
                    executable: false,
                },
            );
        }
        tree
    }

    #[test]
    fn modules_packages_and_extensions() {
        let tree = tree_with(&[
            "a/__init__.py",
            "a/b.py",
            "c.py",
            "d.cpython-311-x86_64-linux-gnu.so",
            "ns/x/y.py",
            "cd.py",
        ]);
        for found in ["a", "a.b", "c", "d", "ns", "ns.x", "ns.x.y"] {
            assert!(tree.has_module(found), "{found}");
        }
        for missing in ["a.c", "b", "e", "ns.z", "cd.x"] {
            assert!(!tree.has_module(missing), "{missing}");
        }
    }

    #[test]
    fn console_script_lookup_order_and_errors() {
        let mut tree = tree_with(&["bin/tool"]);
        tree.console_scripts
            .insert("app".into(), "app.cli:main".into());
        assert_eq!(
            tree.resolve_console_script("app").unwrap(),
            ConsoleTarget::EntryPoint("app.cli:main".into())
        );
        assert_eq!(
            tree.resolve_console_script("tool").unwrap(),
            ConsoleTarget::Script("bin/tool".into())
        );
        let err = tree.resolve_console_script("nope").unwrap_err().to_string();
        assert!(err.contains("\"nope\"") && err.contains("app"), "{err}");
    }
}
