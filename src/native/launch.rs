//! The launcher's run: read the trailer of its own file, make sure the interpreter is
//! unpacked (verified against its sha256 first), then exec `python -I FILE ARGS...`.
//!
//! The warm path is a few small reads and one flock; every error is one line on stderr.

use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::archive::{self, Compression};
use super::trailer::Trailer;
use super::{host_platform, interpreter_key};
use crate::cache::layout::{self, Vars};
use crate::cache::protocol::{self, Published, Refused, Waited};
use crate::cache::trust;

/// The launcher's version, findable in its bytes by the build (`write::find_version`).
#[used]
pub static VERSION_TAG: &str = concat!("rshiv-launcher-version=", env!("CARGO_PKG_VERSION"), ";");

/// Run, and on failure print one line and exit 1.
pub fn main() -> ExitCode {
    // Referenced so the linker keeps the tag whatever the optimiser decides.
    std::hint::black_box(VERSION_TAG);
    match run() {
        Ok(never) => match never {},
        Err(err) => crate::diagnostics::error(&crate::error::Error::Failed(err)),
    }
}

fn run() -> Result<std::convert::Infallible> {
    let exe = std::env::current_exe().context("cannot find the launcher's own file")?;
    let file = File::open(&exe).with_context(|| format!("cannot read {}", exe.display()))?;
    let len = file.metadata()?.len();
    let trailer = Trailer::read(&file, len)
        .with_context(|| format!("{} is damaged", exe.display()))?
        .with_context(|| {
            format!(
                "{} is truncated or damaged: it does not end in rshiv's native trailer",
                exe.display()
            )
        })?;
    if trailer.python_platform != host_platform() {
        bail!(
            "{} bundles a CPython for {}, but this launcher is for {}",
            exe.display(),
            trailer.python_platform,
            host_platform()
        );
    }
    let installed = install(&exe, &file, &trailer, &layout::process_env)?;
    let marker = installed.marker();
    // The last use, for `rshiv cache prune`, at most once a minute (as the bootstrap does).
    let age = marker.metadata()?.modified()?.elapsed();
    if age.is_ok_and(|age| age > Duration::from_secs(60)) {
        // SAFETY: futimens on a descriptor we own; null means "now". A failure (a
        // read-only cache) only leaves the old time.
        unsafe { libc::futimens(marker.as_raw_fd(), std::ptr::null()) };
    }
    // The marker's LOCK_SH must outlive the exec, so `rshiv cache clean` spares the tree.
    installed
        .keep_across_exec()
        .context("cannot keep the interpreter's marker open")?;
    let python = installed.dir.join(&trailer.python_executable);
    let err = std::process::Command::new(&python)
        .arg("-I")
        .arg(&exe)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(err).with_context(|| format!("cannot run {}", python.display()))
}

/// Why the interpreter could not be unpacked into a root.
enum Failed {
    /// Not ours to write: the private fallback root is used instead, saying why.
    Unwritable(String),
    /// Something there is another user's (issue 12's rules): the same, in other words.
    Distrusted(String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failed {
    fn from(err: anyhow::Error) -> Failed {
        if let Some(refused) = err.downcast_ref::<Refused>() {
            return Failed::Distrusted(refused.to_string());
        }
        match err.downcast_ref::<std::io::Error>().and_then(unwritable) {
            Some(why) => Failed::Unwritable(why),
            None => Failed::Other(err),
        }
    }
}

/// The reason when an io error about the root means "not ours to write" (the bootstrap's
/// `unwritable`).
fn unwritable(err: &std::io::Error) -> Option<String> {
    use std::io::ErrorKind::*;
    let ours = matches!(
        err.kind(),
        PermissionDenied | ReadOnlyFilesystem | NotADirectory | AlreadyExists
    ) || err.raw_os_error() == Some(libc::EPERM);
    ours.then(|| err.to_string())
}

/// The unpacked interpreter: from the cache root, else from the private fallback root while
/// the cache root cannot be written or trusted (the bootstrap's rule for its payload).
fn install(exe: &Path, file: &File, trailer: &Trailer, var: Vars) -> Result<Published> {
    let (name, id) = interpreter_key(&trailer.python_version, &trailer.archive_sha256);
    let stem = layout::stem(&name, &id);
    let root = layout::cache_root(var, trailer.root.as_deref())
        .context("cannot find the cache root: HOME is not set; set RSHIV_ROOT")?;
    let fallback = layout::fallback_root(var, crate::cache::current_uid());
    // The bootstrap's `find_extraction`: the cache root, else the private fallback while the
    // cache root cannot be written or trusted.
    let in_fallback = || {
        trust::is_private_dir(&fallback)
            .then(|| protocol::open_published(&fallback, &stem).ok().flatten())
            .flatten()
    };
    let problem = trust::root_problem(&root);
    if problem.is_none() {
        match protocol::open_published(&root, &stem) {
            Ok(Some(found)) => return Ok(found),
            Ok(None) if trust::root_writable(&root) => {}
            Ok(None) | Err(_) => {
                if let Some(found) = in_fallback() {
                    return Ok(found);
                }
            }
        }
    } else if let Some(found) = in_fallback() {
        return Ok(found);
    }
    let marker = layout::Marker {
        name,
        build_id: id,
        files: trailer.files,
        unpacked_bytes: trailer.unpacked_bytes,
    }
    .render_with(&[
        ("kind", "python"),
        ("version", &trailer.python_version),
        ("platform", &trailer.python_platform),
        ("sha256", &trailer.archive_sha256),
    ]);
    let timeout = lock_timeout(var);
    let fill = |tmp: &Path| unpack(exe, file, trailer, tmp);
    let (reason, verb) = match problem {
        Some(why) => (why, "not using the cache root"),
        None => match create(&root, &stem, timeout, &marker, fill) {
            Ok(found) => return Ok(found),
            Err(Failed::Other(err)) => return Err(err),
            Err(Failed::Unwritable(why)) => (why, "cannot write to"),
            Err(Failed::Distrusted(why)) => (why, "not using the cache root"),
        },
    };
    crate::diagnostics::warning(&format!(
        "{verb} {} ({reason}); using {} instead",
        root.display(),
        fallback.display()
    ));
    protocol::private_fallback(&fallback, &root, &reason)?;
    if let Ok(Some(found)) = protocol::open_published(&fallback, &stem) {
        return Ok(found);
    }
    match create(&fallback, &stem, timeout, &marker, fill) {
        Ok(found) => Ok(found),
        Err(Failed::Other(err)) => Err(err),
        Err(Failed::Unwritable(err) | Failed::Distrusted(err)) => bail!(
            "cannot write to {} ({reason}) nor to {} ({err})",
            root.display(),
            fallback.display()
        ),
    }
}

/// Publish `<root>/<stem>` unless someone already has, by cache::protocol's steps: make the
/// root (0755), check it again, take the lock, `fill` a work dir, publish it with `marker`.
fn create(
    root: &Path,
    stem: &str,
    timeout: Duration,
    marker: &str,
    fill: impl Fn(&Path) -> Result<()>,
) -> Result<Published, Failed> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(root)
        .map_err(|err| Failed::from(anyhow::Error::new(err)))?;
    if let Some(why) = trust::root_problem(root) {
        return Err(Failed::Distrusted(why));
    }
    let lock = match protocol::wait(root, stem, timeout)? {
        Waited::Published(found) => return Ok(found),
        Waited::Locked(lock) => lock,
    };
    if let Some(found) = protocol::open_published(root, stem).map_err(anyhow::Error::new)? {
        return Ok(found);
    }
    if lock.held {
        protocol::remove_leftovers(root, stem);
    }
    let work =
        protocol::work_dir(root, stem).map_err(|err| Failed::from(anyhow::Error::new(err)))?;
    let made = fill(&work).and_then(|()| protocol::publish(root, stem, &work, marker));
    if let Err(err) = made {
        let _ = std::fs::remove_dir_all(&work);
        return Err(err.into());
    }
    drop(lock);
    protocol::open_published(root, stem)
        .map_err(anyhow::Error::new)?
        .with_context(|| {
            format!(
                "{} vanished right after unpacking",
                root.join(stem).display()
            )
        })
        .map_err(Failed::Other)
}

/// RSHIV_LOCK_TIMEOUT, else SHIV_LOCK_TIMEOUT, in seconds; 600 by default (the bootstrap's).
fn lock_timeout(var: Vars) -> Duration {
    ["RSHIV_LOCK_TIMEOUT", "SHIV_LOCK_TIMEOUT"]
        .iter()
        .find_map(|name| var(name)?.to_str()?.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(600), Duration::from_secs_f64)
}

/// Unpack the archive into `dest`, checking its bytes against the trailer's sha256 before
/// anything of it is published (a mismatch wins over whatever else went wrong).
fn unpack(exe: &Path, file: &File, trailer: &Trailer, dest: &Path) -> Result<()> {
    let compression = Compression::parse(&trailer.compression)
        .with_context(|| format!("unknown archive compression {:?}", trailer.compression))?;
    let section = Section {
        file,
        at: trailer.archive_offset,
        end: trailer.archive_offset + trailer.archive_size,
    };
    let raw = std::io::BufReader::with_capacity(1 << 20, section);
    let (actual, unpacked) = archive::unpack(compression, raw, dest);
    if actual != trailer.archive_sha256 {
        bail!(
            "{} is damaged: its interpreter archive has sha256 {actual}, not {} (the file was \
             truncated or modified)",
            exe.display(),
            trailer.archive_sha256
        );
    }
    unpacked?;
    let python = dest.join(&trailer.python_executable);
    if !python.is_file() {
        bail!(
            "the interpreter archive in {} holds no {}",
            exe.display(),
            trailer.python_executable
        );
    }
    Ok(())
}

/// Bytes `[at, end)` of a file, read with pread.
struct Section<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl std::io::Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min((self.end - self.at) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.at)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.at += n as u64;
        Ok(n)
    }
}
