//! The launcher's run: read the trailer of its own file, make sure the interpreter is
//! unpacked (verified against its sha256 first), then exec `python -I FILE ARGS...`.
//!
//! The warm path is a few small reads and one flock; every error is one line on stderr.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::archive::{self, Compression};
use super::protocol::{self, Error, Published};
use super::trailer::Trailer;
use super::{host_platform, interpreter_key, root};

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
    let var = |name: &str| std::env::var_os(name);
    let installed = install(&exe, &file, &trailer, &var)?;
    let fd = installed.marker.as_raw_fd();
    // The last use, for `rshiv cache prune`, at most once a minute (as the bootstrap does).
    let age = installed.marker.metadata()?.modified()?.elapsed();
    if age.is_ok_and(|age| age > Duration::from_secs(60)) {
        // SAFETY: futimens on a descriptor we own; null means "now". A failure (a
        // read-only cache) only leaves the old time.
        unsafe { libc::futimens(fd, std::ptr::null()) };
    }
    // The marker's LOCK_SH must outlive the exec: keep its descriptor open across it.
    // SAFETY: fcntl on a descriptor we own; clearing FD_CLOEXEC has no other effect.
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    let python = installed.dir.join(&trailer.python_executable);
    let err = std::process::Command::new(&python)
        .arg("-I")
        .arg(&exe)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(err).with_context(|| format!("cannot run {}", python.display()))
}

/// The unpacked interpreter: from the cache root, else from the private fallback root while
/// the cache root cannot be written (the bootstrap's rule for its payload).
fn install(
    exe: &Path,
    file: &File,
    trailer: &Trailer,
    var: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Published> {
    let (name, id) = interpreter_key(&trailer.python_version, &trailer.archive_sha256);
    let key = format!("{name}_{id}");
    let root = root::resolve(trailer.root.as_deref(), var)?;
    if let Some(found) = protocol::open_published(&root, &key) {
        return Ok(found);
    }
    let fallback = root::fallback(var);
    if !writable(&root) {
        if let Some(found) = protocol::open_published(&fallback, &key) {
            return Ok(found);
        }
    }
    let marker = marker_text(&name, &id, trailer);
    let timeout = lock_timeout(var);
    let fill = |tmp: &Path| unpack(exe, file, trailer, tmp).map(|()| marker.clone());
    let reason = match protocol::create(&root, &key, timeout, fill) {
        Ok(found) => return Ok(found),
        Err(Error::Other(err)) => return Err(err),
        Err(Error::Unwritable(_, err)) => err.to_string(),
    };
    crate::diagnostics::warning(&format!(
        "cannot write to {} ({reason}); using {} instead",
        root.display(),
        fallback.display()
    ));
    private_dir(&fallback, &root, &reason)?;
    if let Some(found) = protocol::open_published(&fallback, &key) {
        return Ok(found);
    }
    match protocol::create(&fallback, &key, timeout, fill) {
        Ok(found) => Ok(found),
        Err(Error::Other(err)) => Err(err),
        Err(Error::Unwritable(_, err)) => bail!(
            "cannot write to {} ({reason}) nor to {} ({err})",
            root.display(),
            fallback.display()
        ),
    }
}

/// Whether `root` is, or could be made as, a directory this process may write into
/// (`root_writable` of bootstrap/__main__.py): while it is not, the fallback is looked in
/// first, without a warning at every start.
fn writable(root: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Some(existing) = root
        .ancestors()
        .find(|p| std::fs::symlink_metadata(p).is_ok())
    else {
        return false;
    };
    let Ok(path) = std::ffi::CString::new(existing.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access reads a NUL-terminated path and has no other effect.
    existing.is_dir() && unsafe { libc::access(path.as_ptr(), libc::W_OK) } == 0
}

/// Create (0700) or accept the per-user fallback root; refuse anyone else's or a symlink.
fn private_dir(path: &Path, root: &Path, reason: &str) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let made = std::fs::DirBuilder::new().mode(0o700).create(path);
    if let Err(err) = made {
        if err.kind() != std::io::ErrorKind::AlreadyExists {
            bail!(
                "cannot write to {} ({reason}) nor create {} ({err})",
                root.display(),
                path.display()
            );
        }
    }
    let meta = std::fs::symlink_metadata(path)?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let private =
        meta.is_dir() && meta.uid() == unsafe { libc::getuid() } && meta.mode() & 0o022 == 0;
    if !private {
        bail!(
            "cannot write to {} ({reason}), and the fallback {} is not a private directory of this user",
            root.display(),
            path.display()
        );
    }
    Ok(())
}

/// The marker in the shape `rshiv cache` reads (`rshiv-1`, name, build id) plus what the
/// interpreter is.
fn marker_text(name: &str, id: &str, trailer: &Trailer) -> String {
    format!(
        "rshiv-1\nname={name}\nbuild_id={id}\nkind=python\nversion={}\nplatform={}\nsha256={}\n\
         files={}\nunpacked_bytes={}\n",
        trailer.python_version,
        trailer.python_platform,
        trailer.archive_sha256,
        trailer.files,
        trailer.unpacked_bytes
    )
}

/// RSHIV_LOCK_TIMEOUT, else SHIV_LOCK_TIMEOUT, in seconds; 600 by default (the bootstrap's).
fn lock_timeout(var: &dyn Fn(&str) -> Option<OsString>) -> Duration {
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
