//! Fixture wheels written by the tests themselves, so that builds need no package index:
//! `--no-index --find-links <dir>` installs them with real pip and uv.
//!
//! Each is a valid PEP 427 wheel: the files, then `{dist}-{version}.dist-info/` with
//! `METADATA` (core metadata 2.1), `WHEEL`, `entry_points.txt` and `RECORD` (sha256,
//! urlsafe base64 without padding, as PEP 376/627 say).

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// A wheel to write: `Wheel::new("greet", "1.0").file(...).console_script(...).write(dir)`.
#[derive(Debug, Clone)]
pub struct Wheel {
    name: String,
    version: String,
    tag: String,
    /// (path in the wheel, contents, unix mode)
    files: Vec<(String, Vec<u8>, u32)>,
    console_scripts: Vec<(String, String)>,
    dependencies: Vec<String>,
    requires_python: Option<String>,
}

impl Wheel {
    pub fn new(name: &str, version: &str) -> Self {
        Wheel {
            name: name.to_owned(),
            version: version.to_owned(),
            tag: "py3-none-any".to_owned(),
            files: Vec::new(),
            console_scripts: Vec::new(),
            dependencies: Vec::new(),
            requires_python: None,
        }
    }

    /// A file installed into site-packages (`greet/__init__.py`).
    pub fn file(mut self, path: &str, contents: impl AsRef<[u8]>) -> Self {
        self.files
            .push((path.to_owned(), contents.as_ref().to_vec(), 0o644));
        self
    }

    /// A file installed into site-packages with its execute bits set.
    pub fn executable(mut self, path: &str, contents: impl AsRef<[u8]>) -> Self {
        self.files
            .push((path.to_owned(), contents.as_ref().to_vec(), 0o755));
        self
    }

    /// A script in `{dist}-{version}.data/scripts/`, which installers put in `bin/`.
    pub fn script(self, name: &str, contents: impl AsRef<[u8]>) -> Self {
        let path = format!("{}.data/scripts/{name}", self.stem());
        self.executable(&path, contents)
    }

    /// A `[console_scripts]` entry: `greet = greet:main`.
    pub fn console_script(mut self, name: &str, target: &str) -> Self {
        self.console_scripts
            .push((name.to_owned(), target.to_owned()));
        self
    }

    /// A `Requires-Dist` line (`other>=1`).
    pub fn dependency(mut self, requirement: &str) -> Self {
        self.dependencies.push(requirement.to_owned());
        self
    }

    /// A `Requires-Python` line (`>=3.9`), which installers honour when they choose.
    pub fn requires_python(mut self, specifier: &str) -> Self {
        self.requires_python = Some(specifier.to_owned());
        self
    }

    /// The compatibility tag (PEP 425), `py3-none-any` unless told.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_owned();
        self
    }

    /// `{distribution}-{version}` with the name normalized as PEP 427 asks.
    fn stem(&self) -> String {
        format!("{}-{}", self.name.replace(['-', '.'], "_"), self.version)
    }

    /// The file name this wheel is written under.
    pub fn file_name(&self) -> String {
        format!("{}-{}.whl", self.stem(), self.tag)
    }

    /// Everything in the wheel, in order, `RECORD` last.
    fn members(&self) -> Vec<(String, Vec<u8>, u32)> {
        let dist_info = format!("{}.dist-info", self.stem());
        let mut metadata = format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\nSummary: rshiv test fixture\nLicense: MIT\n",
            self.name, self.version
        );
        if let Some(specifier) = &self.requires_python {
            metadata.push_str(&format!("Requires-Python: {specifier}\n"));
        }
        for dependency in &self.dependencies {
            metadata.push_str(&format!("Requires-Dist: {dependency}\n"));
        }
        let wheel = format!(
            "Wheel-Version: 1.0\nGenerator: rshiv-tests\nRoot-Is-Purelib: true\nTag: {}\n",
            self.tag
        );
        let mut members = self.files.clone();
        members.push((
            format!("{dist_info}/METADATA"),
            metadata.into_bytes(),
            0o644,
        ));
        members.push((format!("{dist_info}/WHEEL"), wheel.into_bytes(), 0o644));
        if !self.console_scripts.is_empty() {
            let mut entry_points = String::from("[console_scripts]\n");
            for (name, target) in &self.console_scripts {
                entry_points.push_str(&format!("{name} = {target}\n"));
            }
            members.push((
                format!("{dist_info}/entry_points.txt"),
                entry_points.into_bytes(),
                0o644,
            ));
        }
        let record = format!("{dist_info}/RECORD");
        members.push((record.clone(), record_of(&members, &record), 0o644));
        members
    }

    /// Write the wheel into `dir` (created if needed) and return its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).expect("create the wheel directory");
        let path = dir.join(self.file_name());
        let file = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        let mut zip = ZipWriter::new(file);
        for (name, contents, mode) in self.members() {
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .unix_permissions(mode);
            zip.start_file(name, options).expect("start a wheel member");
            zip.write_all(&contents).expect("write a wheel member");
        }
        zip.finish().expect("finish the wheel");
        path
    }
}

/// `RECORD`: `path,sha256=<urlsafe-b64-nopad>,size` per file, then `RECORD,,`.
fn record_of(members: &[(String, Vec<u8>, u32)], record: &str) -> Vec<u8> {
    let mut out = String::new();
    for (name, contents, _) in members {
        let digest = Sha256::digest(contents);
        out.push_str(&format!(
            "{name},sha256={},{}\n",
            urlsafe_base64_nopad(&digest),
            contents.len()
        ));
    }
    out.push_str(&format!("{record},,\n"));
    out.into_bytes()
}

/// Base64 with the URL-safe alphabet and no `=` padding (RFC 4648 §5), as RECORD wants.
pub fn urlsafe_base64_nopad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod unit {
    use super::urlsafe_base64_nopad;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        assert_eq!(urlsafe_base64_nopad(b""), "");
        assert_eq!(urlsafe_base64_nopad(b"f"), "Zg");
        assert_eq!(urlsafe_base64_nopad(b"fo"), "Zm8");
        assert_eq!(urlsafe_base64_nopad(b"foo"), "Zm9v");
        assert_eq!(urlsafe_base64_nopad(b"foob"), "Zm9vYg");
        assert_eq!(urlsafe_base64_nopad(&[0xfb, 0xff]), "-_8");
    }
}
