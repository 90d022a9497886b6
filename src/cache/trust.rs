//! The shared-machine rules of the extraction protocol, as functions any Rust code can
//! call (`rshiv cache`, a native launcher); `bootstrap/stub.py` and `extract.py` apply
//! the same rules to the same paths (`root_problem`, `trusted`, `open_regular`,
//! `create_lock` there).
//!
//! * A cache root is used only if each existing component belongs to the user or root and
//!   no one else may write to it unless it is sticky; a symlink's target is checked too.
//! * An extraction, runtime copy, marker or lock is trusted only if the user (or root) made
//!   it: a real directory or a regular file, owned by the user or root, writable by no one
//!   else. What is not trusted is never used, and never deleted unless it is ours.
//! * A lock or marker is opened with `O_NOFOLLOW | O_NONBLOCK` (a planted FIFO cannot make
//!   anyone wait, a planted link cannot redirect), and a new lock is made under a fresh
//!   name and linked into place, which never follows nor replaces what is there (uv's
//!   `LockedFile` does the same with a rename).

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const STICKY: u32 = 0o1000;
const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const GROUP_WRITE: u32 = 0o020;
const OTHER_WRITE: u32 = 0o002;

/// The effective user id of this process: the owner of what it creates.
pub fn euid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether the user (or root) made it and no one else may change it.
pub fn trusted(meta: &Metadata) -> bool {
    (meta.uid() == 0 || meta.uid() == euid()) && meta.mode() & GROUP_OR_OTHER_WRITE == 0
}

/// Whether `path` is a real directory (not a link) that can be trusted.
pub fn trusted_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .is_ok_and(|meta| meta.mode() & S_IFMT == S_IFDIR && trusted(&meta))
}

/// Whether `path` is a real directory this user owns: the only kind rshiv deletes.
pub fn ours(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .is_ok_and(|meta| meta.mode() & S_IFMT == S_IFDIR && meta.uid() == euid())
}

/// Whether `path` is a real directory of this (real) user that no one else may write: what
/// the private fallback root must be (`is_private_dir` of bootstrap/stub.py).
pub fn is_private_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| {
        meta.mode() & S_IFMT == S_IFDIR
            && meta.mode() & GROUP_OR_OTHER_WRITE == 0
            && meta.uid() == super::current_uid()
    })
}

/// Whether `root` is, or could be made as, a directory this process may write into
/// (`root_writable` of bootstrap/stub.py): its nearest existing part is a directory
/// that access(2) lets us write. While it is not, the fallback root is looked in first.
pub fn root_writable(root: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Some(existing) = root
        .ancestors()
        .find(|path| std::fs::symlink_metadata(path).is_ok())
    else {
        return false;
    };
    let Ok(path) = std::ffi::CString::new(existing.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) reads a NUL-terminated path and has no other effect.
    existing.is_dir() && unsafe { libc::access(path.as_ptr(), libc::W_OK) } == 0
}

/// Why the cache root `root` (absolute) is not to be used, or None. A missing part is
/// fine: whoever uses the root makes it, and checks again.
pub fn root_problem(root: &Path) -> Option<String> {
    root_problem_at(root, 0)
}

fn root_problem_at(root: &Path, depth: u32) -> Option<String> {
    let (mut path, mut links) = (PathBuf::from("/"), false);
    for part in root.components() {
        match part {
            Component::Normal(name) => path.push(name),
            Component::ParentDir => path.push(".."),
            _ => continue,
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            break;
        };
        if meta.uid() != 0 && meta.uid() != euid() {
            let owner = meta.uid();
            return Some(format!(
                "{} belongs to another user (uid {owner})",
                path.display()
            ));
        }
        let mode = meta.mode();
        if mode & S_IFMT == S_IFLNK {
            links = true;
        } else if mode & STICKY == 0
            && (mode & OTHER_WRITE != 0 || mode & GROUP_WRITE != 0 && !private_group(meta.gid()))
        {
            return Some(format!("{} may be written by other users", path.display()));
        }
    }
    if links && depth < 8 {
        if let Ok(real) = real_prefix(root) {
            return root_problem_at(&real, depth + 1);
        }
    }
    None
}

/// Whether `gid` is the user's own group with no other member: a user private group, whose
/// group-writable directories (made under umask 002) no one else may write.
fn private_group(gid: u32) -> bool {
    // SAFETY: getegid(2) has no preconditions and cannot fail.
    if gid != unsafe { libc::getegid() } {
        return false;
    }
    let Some(members) = group_members(gid) else {
        return false;
    };
    members.is_empty() || user_name(euid()).is_some_and(|me| members.iter().all(|m| *m == me))
}

/// The member names of group `gid` (getgrgid_r(3)), None when it is unknown.
fn group_members(gid: u32) -> Option<Vec<Vec<u8>>> {
    let mut buf = vec![0 as libc::c_char; 1 << 16];
    // SAFETY: zeroed is a valid `group`; getgrgid_r fills it with pointers into `buf`,
    // which outlives every read below, and NULL-terminates gr_mem.
    unsafe {
        let mut group: libc::group = std::mem::zeroed();
        let mut found = std::ptr::null_mut();
        let rc = libc::getgrgid_r(gid, &mut group, buf.as_mut_ptr(), buf.len(), &mut found);
        if rc != 0 || found.is_null() {
            return None;
        }
        let mut members = Vec::new();
        let mut member = group.gr_mem;
        while !member.is_null() && !(*member).is_null() {
            members.push(std::ffi::CStr::from_ptr(*member).to_bytes().to_vec());
            member = member.add(1);
        }
        Some(members)
    }
}

/// The login name of user `uid` (getpwuid_r(3)).
fn user_name(uid: u32) -> Option<Vec<u8>> {
    let mut buf = vec![0 as libc::c_char; 1 << 14];
    // SAFETY: as in `group_members`, for `passwd`.
    unsafe {
        let mut user: libc::passwd = std::mem::zeroed();
        let mut found = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut user, buf.as_mut_ptr(), buf.len(), &mut found);
        if rc != 0 || found.is_null() {
            return None;
        }
        Some(std::ffi::CStr::from_ptr(user.pw_name).to_bytes().to_vec())
    }
}

/// `root` with the symlinks of its existing part resolved (the rest kept as it is).
fn real_prefix(root: &Path) -> io::Result<PathBuf> {
    let mut existing = root.to_path_buf();
    let mut rest = Vec::new();
    while std::fs::symlink_metadata(&existing).is_err() {
        rest.push(existing.file_name().map(|n| n.to_os_string()));
        if !existing.pop() {
            break;
        }
    }
    let mut real = std::fs::canonicalize(&existing)?;
    for name in rest.into_iter().rev().flatten() {
        real.push(name);
    }
    Ok(real)
}

/// A file that is there but not to be trusted (inside the io::Error [`open_regular`] gives).
#[derive(Debug, thiserror::Error)]
#[error("{} is not a regular file of this user or root", .0.display())]
pub struct Untrusted(pub PathBuf);

/// The error for a file that is there but not to be trusted.
fn untrusted(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        Untrusted(path.to_path_buf()),
    )
}

/// Whether an open failed because the file is not to be trusted (a link, a FIFO, another
/// user's), rather than for want of access.
pub fn is_untrusted(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ELOOP) || err.get_ref().is_some_and(|e| e.is::<Untrusted>())
}

/// Open `path` (for writing too with `write`) if it is a regular file that can be
/// trusted, never waiting and never following a link. A link shows as an error of its own
/// (ELOOP), anything else not trusted as PermissionDenied naming the path.
pub fn open_regular(path: &Path, write: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.mode() & S_IFMT != S_IFREG || !trusted(&meta) {
        return Err(untrusted(path));
    }
    Ok(file)
}

/// Open the lock file `path` read-write (read-only where only that is allowed, as in a
/// root-owned cache), creating it first when missing: a new 0644 file under the name
/// `<lock name>-<pid>-<random>` ([`super::layout::lock_tmp_name`]), hard-linked to `path`.
/// A link never replaces nor follows what is there, so a planted symlink stays a planted
/// symlink, and the open then refuses it.
pub fn open_or_create_lock(path: &Path) -> io::Result<File> {
    for _ in 0..8 {
        match open_regular(path, true) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => create_lock(path)?,
            Err(err) if err.raw_os_error() == Some(libc::EACCES) => {
                return open_regular(path, false)
            }
            opened => return opened,
        }
    }
    Err(io::Error::other(format!(
        "cannot create the lock {}",
        path.display()
    )))
}

fn create_lock(path: &Path) -> io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!("{name}-{}-{:08x}", std::process::id(), random()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    drop(file);
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => Err(err),
        _ => Ok(()),
    }
}

/// A few random bits for a unique name, from the standard library's hasher keys.
pub fn random() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_link_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(".app_1.lock");
        let target = dir.path().join("created-through-the-link");
        std::os::unix::fs::symlink(&target, &lock).unwrap();
        let err = open_or_create_lock(&lock).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
        assert!(!target.exists());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left: {names:?}");
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("marker");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        let err = open_regular(&fifo, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        assert!(open_or_create_lock(&fifo).is_err());
    }

    /// (0644 whatever the umask: set explicitly. Not tested under umask 0 here, since the
    /// umask is the whole test process's; `shared_machine` runs the bootstrap under 000.)
    #[test]
    fn a_new_lock_is_0644() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(".app_1.lock");
        open_or_create_lock(&lock).unwrap();
        let mode = std::fs::metadata(&lock).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o644);
    }

    /// The bootstrap's `root_problem` on `root`, run by a real Python.
    fn bootstrap_problem(root: &Path) -> Option<String> {
        bootstrap_says("root_problem", root)
    }

    /// What the bootstrap's `function(path)` returns, as text ('' for None or False).
    fn bootstrap_says(function: &str, path: &Path) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        crate::archive::bootstrap::write_package(dir.path());
        let script = format!(
            "import sys\nsys.path.insert(0, sys.argv[1])\nfrom _rshiv import stub\n\
             print(stub.{function}(sys.argv[2]) or '')"
        );
        let root = path;
        let output = std::process::Command::new("python3")
            .args(["-I", "-c", &script])
            .arg(dir.path())
            .arg(root)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap().trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    /// Rust and the bootstrap agree on every root (the drift test of the rules).
    #[track_caller]
    fn problem(root: &Path) -> Option<String> {
        let rust = root_problem(root);
        assert_eq!(rust, bootstrap_problem(root), "{}", root.display());
        rust
    }

    #[test]
    fn roots_others_may_write_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = problem(&open.join("cache")).unwrap();
        assert!(why.contains("may be written by other users"), "{why}");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(problem(&open.join("cache")), None);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(problem(&link.join("cache")).is_some());
        assert_eq!(problem(&dir.path().join("absent/cache")), None);
        let private = dir.path().join("private-group");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o775)).unwrap();
        // SAFETY: getegid(2) cannot fail.
        let own_group_is_private = private_group(unsafe { libc::getegid() });
        assert_eq!(
            problem(&private.join("cache")).is_none(),
            own_group_is_private
        );
        if euid() == 0 {
            std::os::unix::fs::chown(&private, None, Some(54321)).unwrap();
            assert!(
                problem(&private.join("cache")).is_some(),
                "a group that is not ours"
            );
            let owned = dir.path().join("owned");
            std::fs::create_dir(&owned).unwrap();
            std::os::unix::fs::chown(&owned, Some(54321), None).unwrap();
            let why = problem(&owned.join("cache")).unwrap();
            assert!(why.contains("belongs to another user (uid 54321)"), "{why}");
        }
    }

    /// The fallback root's checks agree with the bootstrap's `is_private_dir` and
    /// `root_writable` (the launcher decides with these where the bootstrap decides with those).
    #[test]
    fn private_and_writable_agree_with_the_bootstrap() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let says = |function: &str, path: &Path| bootstrap_says(function, path).is_some();
        for path in [&private, &open, &link, &file, &dir.path().join("absent")] {
            assert_eq!(
                is_private_dir(path),
                says("is_private_dir", path),
                "{path:?}"
            );
            assert_eq!(root_writable(path), says("root_writable", path), "{path:?}");
        }
        assert!(is_private_dir(&private) && !is_private_dir(&open) && !is_private_dir(&link));
        assert!(root_writable(&file.join("below")) == says("root_writable", &file.join("below")));
    }
}
