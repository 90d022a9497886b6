//! Reading an interpreter archive: a tar stream, gzip (RFC 1952) or zstd (RFC 8878)
//! compressed, told apart by its first bytes. Shared by the build (`dist`) and the launcher.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::archive::hex;

/// How the tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    /// From the first four bytes of the file (gzip: 1f 8b, zstd frame: 28 b5 2f fd).
    pub fn detect(magic: &[u8]) -> Option<Compression> {
        match magic {
            [0x1f, 0x8b, ..] => Some(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The trailer's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gz",
            Compression::Zstd => "zst",
        }
    }

    pub fn parse(name: &str) -> Option<Compression> {
        [Compression::Gzip, Compression::Zstd]
            .into_iter()
            .find(|c| c.as_str() == name)
    }

    /// The decompressed tar stream of `raw`.
    pub fn decoder<'a, R: Read + 'a>(self, raw: R) -> Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::new(raw).context("cannot start a zstd decoder")?,
            ),
        })
    }
}

/// Unpack the archive `raw` into `dest` (which exists and is empty), and return the sha256
/// (hex) of every byte of `raw`, read to its end whatever happens to the unpacking: the
/// caller compares it first, so a damaged archive is reported as such and nothing of it
/// is used. Decompression runs in a thread of its own, as `tar xzf` runs gzip beside tar.
pub fn unpack(
    compression: Compression,
    mut raw: impl Read + Send,
    dest: &Path,
) -> (String, Result<()>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    // Read chunks go back to be filled again (zeroing a new one costs as much as copying it).
    let (spent_tx, spent_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut hasher = Sha256::new();
            let decoded = decode_into(compression, &mut raw, &mut hasher, (tx, spent_rx));
            let rest = std::io::copy(&mut raw, &mut hasher);
            let result = decoded.and(
                rest.map(drop)
                    .context("cannot read the interpreter archive"),
            );
            (hex(&hasher.finalize()), result)
        });
        let untarred = untar(
            Chunks {
                rx,
                spent: spent_tx,
                chunk: Vec::new(),
                at: 0,
            },
            dest,
        );
        let (sha256, decoded) = producer.join().expect("the decompression thread panicked");
        (sha256, decoded.and(untarred))
    })
}

/// Decompress `raw` (hashing what is read) in chunks into `tx`, until the end or until the
/// receiver hangs up; the chunks it is done with come back through `spent`.
fn decode_into(
    compression: Compression,
    raw: &mut dyn Read,
    hasher: &mut Sha256,
    (tx, spent): (SyncSender<Vec<u8>>, Receiver<Vec<u8>>),
) -> Result<()> {
    const CHUNK: usize = 256 << 10;
    let mut decoder = compression.decoder(Hashing { raw, hasher })?;
    loop {
        let mut chunk = spent.try_recv().unwrap_or_default();
        chunk.resize(CHUNK, 0);
        let n = decoder
            .read(&mut chunk)
            .context("cannot decompress the interpreter archive")?;
        if n == 0 {
            return Ok(());
        }
        chunk.truncate(n);
        if tx.send(chunk).is_err() {
            return Ok(());
        }
    }
}

/// A reader that feeds what it reads to a hasher.
struct Hashing<'a> {
    raw: &'a mut dyn Read,
    hasher: &'a mut Sha256,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.raw.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The decompressed stream, as chunks from the decompression thread (sent back once read).
struct Chunks {
    rx: Receiver<Vec<u8>>,
    spent: Sender<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    let read = std::mem::replace(&mut self.chunk, chunk);
                    self.at = 0;
                    let _ = self.spent.send(read);
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Unpack a tar stream into `dest`, a fresh directory of ours. The checks tar's
/// `unpack_in` makes by canonicalizing every member's parent (a dozen readlink(2) calls
/// each, a tenth of a cold start), made on the names instead: a member's path may not
/// hold `..` (a leading `/` is dropped, as GNU tar does), nothing is written through a
/// symlink the archive made (the only kind `dest` can hold), and a hard link names a member
/// inside the tree.
fn untar(stream: impl Read, dest: &Path) -> Result<()> {
    let mut tar = tar::Archive::new(stream);
    tar.set_preserve_permissions(true);
    tar.set_preserve_mtime(true);
    tar.set_overwrite(false);
    let mut tree = Tree {
        dest,
        dirs: HashSet::from([PathBuf::new()]),
        links: HashSet::new(),
    };
    for entry in tar
        .entries()
        .context("cannot read the interpreter archive")?
    {
        let mut entry = entry.context("cannot read the interpreter archive")?;
        let name = entry
            .path()
            .context("cannot read the interpreter archive")?
            .into_owned();
        tree.unpack(&mut entry, &name)
            .with_context(|| format!("cannot unpack {} into {}", name.display(), dest.display()))?;
    }
    Ok(())
}

/// What [`untar`] has made so far, relative to `dest`.
struct Tree<'a> {
    dest: &'a Path,
    /// Directories known to exist.
    dirs: HashSet<PathBuf>,
    /// Symlinks made: never a parent of a later member.
    links: HashSet<PathBuf>,
}

impl Tree<'_> {
    fn unpack(&mut self, entry: &mut tar::Entry<impl Read>, name: &Path) -> Result<()> {
        let relative = self.member(name)?;
        if relative.as_os_str().is_empty() {
            return Ok(());
        }
        let parent = relative.parent().unwrap_or(Path::new(""));
        if !self.dirs.contains(parent) {
            std::fs::create_dir_all(self.dest.join(parent))?;
            self.dirs.extend(parent.ancestors().map(Path::to_path_buf));
        }
        let target = self.dest.join(&relative);
        let kind = entry.header().entry_type();
        if kind.is_hard_link() {
            let source = entry
                .link_name()?
                .context("a hard link names no member")?
                .into_owned();
            let source = self.member(&source)?;
            std::fs::hard_link(self.dest.join(source), &target)?;
            return Ok(());
        }
        entry.unpack(&target)?;
        if kind.is_symlink() {
            self.links.insert(relative);
        } else if kind.is_dir() {
            self.dirs.insert(relative);
        }
        Ok(())
    }

    /// `name` relative to `dest`, refused when it leaves the tree or goes through a symlink.
    fn member(&self, name: &Path) -> Result<PathBuf> {
        let mut relative = PathBuf::new();
        for part in name.components() {
            match part {
                Component::Normal(part) => relative.push(part),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => bail!(
                    "the interpreter archive holds a member outside its tree: {}",
                    name.display()
                ),
            }
        }
        if relative.ancestors().skip(1).any(|a| self.links.contains(a)) {
            bail!(
                "the interpreter archive holds a member behind one of its symlinks: {}",
                name.display()
            );
        }
        Ok(relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar stream of `(name, link target)` members: a symlink, a hard link (`=` before the
    /// target) or, with no target, a file holding its name.
    fn tar_of(members: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, target) in members {
            // Names written raw: the builder itself refuses `..`, and these must hold it.
            let mut header = tar::Header::new_gnu();
            header.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
            header.set_mode(0o644);
            let (kind, link, data) = match target.map(|t| (t.strip_prefix('='), t)) {
                Some((Some(hard), _)) => (tar::EntryType::Link, hard, ""),
                Some((None, soft)) => (tar::EntryType::Symlink, soft, ""),
                None => (tar::EntryType::Regular, "", *name),
            };
            header.set_entry_type(kind);
            header.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
            header.set_size(data.len() as u64);
            header.set_cksum();
            builder.append(&header, data.as_bytes()).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn unpacks_links_and_refuses_what_leaves_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("ok");
        std::fs::create_dir(&dest).unwrap();
        let members = [
            ("python/bin/python3", Some("python3.12")),
            ("python/bin/python3.12", None),
            ("./python/lib/a/b.py", None),
            ("python/lib/c.py", Some("=python/lib/a/b.py")),
        ];
        untar(&tar_of(&members)[..], &dest).unwrap();
        let bin = dest.join("python/bin");
        assert_eq!(
            std::fs::read_to_string(bin.join("python3")).unwrap(),
            "python/bin/python3.12"
        );
        assert_eq!(
            std::fs::read_to_string(dest.join("python/lib/c.py")).unwrap(),
            "./python/lib/a/b.py"
        );

        let refused = |members: &[(&str, Option<&str>)], needle: &str| {
            let dest = tempfile::tempdir_in(dir.path()).unwrap();
            let err = untar(&tar_of(members)[..], dest.path()).unwrap_err();
            assert!(format!("{err:#}").contains(needle), "{err:#}");
        };
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let outside = outside.to_str().unwrap();
        refused(&[("python/../../x", None)], "outside its tree");
        refused(
            &[("python", Some(outside)), ("python/x", None)],
            "behind one of its symlinks",
        );
        refused(
            &[("python/x", Some("=../../etc/passwd"))],
            "outside its tree",
        );
        assert_eq!(std::fs::read_dir(outside).unwrap().count(), 0);
    }
}
