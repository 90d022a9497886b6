"""The extraction protocol, stored as `_rshiv/extract.py`; only first runs import it.

`<root>/<name>_<id>/` is published by one atomic rename of a complete temp dir, built under
the extraction lock `<root>/.<name>_<id>.lock`; a running app holds LOCK_SH on the tree's
marker, and a tree is removed only by whoever takes that marker exclusively (renamed to
`.trash-…` first). The names are src/cache/layout.rs's; `rshiv cache` (src/cache/) follows
the same protocol.
"""

import errno
import os
import sys
import time

from _rshiv import runtime
from _rshiv.runtime import Fatal, cache_runtime, compile_tree, record_sources, warn, write_file
from _rshiv.unpack import unpack_payload

# Errors that mean "this root is not ours to write": fall back to a private root.
UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST)
FULL = (errno.ENOSPC, errno.EDQUOT)
LOCK_POLL = 0.02
# The names of src/cache/layout.rs (its tests run these functions and fail on drift).
TMP_INFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
LOCK_SUFFIX = ".lock"
MARKER_VERSION = "rshiv-1"


def lock_name(stem):
    """`.<stem>.lock`."""
    return "." + stem + LOCK_SUFFIX


def lock_tmp_name(stem, pid, random):
    """`.<stem>.lock-<pid>-<random>`: a new lock file, before it is linked into place."""
    return "%s-%d-%s" % (lock_name(stem), pid, random)


def tmp_name(stem, pid, random):
    """`.<stem>.tmp-<pid>-<random>`."""
    return ".%s%s%d-%s" % (stem, TMP_INFIX, pid, random)


def trash_name(stem, pid, random):
    """`.trash-<stem>-<pid>-<random>`."""
    return "%s%s-%d-%s" % (TRASH_PREFIX, stem, pid, random)


def marker_text(name, build_id, files, unpacked_bytes):
    """What the ready marker says."""
    return "%s\nname=%s\nbuild_id=%s\nfiles=%d\nunpacked_bytes=%d\n" % (
        MARKER_VERSION,
        name,
        build_id,
        files,
        unpacked_bytes,
    )


class Unwritable(Exception):
    """The cache root cannot be written: use the private fallback root."""


class Distrusted(Unwritable):
    """Something in the cache root is another user's: use the private fallback root."""


def obtain(baked, settings):
    """Unpack the payload (the stub found no extraction, or SHIV_FORCE_EXTRACT); return it.

    A forced run first lets go of the tree it found, so the old one can be removed. What
    it creates is 0755/0644 whatever the umask (umask 022 meanwhile).
    """
    for fd, _, _ in runtime.boot.HELD:
        os.close(fd)
    del runtime.boot.HELD[:]
    umask = os.umask(0o022)
    try:
        return obtain_somewhere(baked, settings)
    finally:
        os.umask(umask)


def obtain_somewhere(baked, settings):
    """Unpack into the cache root, else (not writable, not trusted) the private fallback."""
    root = runtime.boot.cache_root(baked)
    refused = [why for refused, why in runtime.boot.REFUSED if refused == root]
    del runtime.boot.REFUSED[:]
    if refused:
        error = Distrusted(refused[0])
    else:
        try:
            return unpack_into(root, baked, settings)
        except Unwritable as raised:
            error = raised
    reason = str(error)
    fallback = private_fallback(runtime.boot.fallback_root(), root, reason)
    if isinstance(error, Distrusted):
        warn("not using the cache root %s (%s); using %s instead" % (root, reason, fallback))
    else:
        warn("cannot write to %s (%s); using %s instead" % (root, reason, fallback))
    try:
        return unpack_into(fallback, baked, settings)
    except Unwritable as error:
        raise Fatal("cannot use %s (%s) nor %s (%s)" % (root, reason, fallback, error))


def private_fallback(path, root, reason):
    """Create (0700) or accept the per-user fallback root; refuse anyone else's or a symlink."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise Fatal(
            "cannot write to %s (%s) nor create %s (%s)" % (root, reason, path, error.strerror)
        )
    if not runtime.boot.is_private_dir(path) or runtime.boot.root_problem(path):
        raise Fatal(
            "cannot write to %s (%s), and the fallback %s is not a private directory of this user"
            % (root, reason, path)
        )
    return path


def unwritable(error):
    """Turn an OSError about the cache root into Unwritable when it means "not ours to write"."""
    if isinstance(error, OSError) and error.errno in UNWRITABLE:
        return Unwritable(error.strerror)
    return error


def unpack_into(root, baked, settings):
    """Unpack the payload into `<root>/<name>_<id>` under its lock and publish it; return it.

    The root is checked again once made (someone could have made it first), and a tree of
    this name that cannot be trusted is left alone: Distrusted, unpack elsewhere.
    """
    try:
        os.makedirs(root, 0o755, exist_ok=True)
    except OSError as error:
        raise unwritable(error)
    problem = runtime.boot.root_problem(root)
    if problem or not os.path.isdir(root):
        raise Distrusted(problem or "not a directory")
    stem = os.path.basename(runtime.boot.extraction_dir(root, baked))
    final = runtime.boot.extraction_dir(root, baked)
    if final in runtime.boot.DISTRUSTED:
        raise Distrusted("%s is not this user's" % final)
    lock = Lock(root, stem)

    def published():
        return None if settings.force_extract else runtime.boot.open_extraction(root, baked)

    found = lock.wait(settings.lock_timeout, published)
    if found:
        return found
    try:
        found = published()
        if found:
            return found
        if os.path.lexists(final) and not runtime.boot.trusted_dir(final):
            raise Distrusted("%s is not this user's" % final)
        if lock.held:
            remove_leftovers(root, stem)
        build(root, final, stem, baked, settings)
        found = runtime.boot.open_extraction(root, baked)
        if found is None:
            raise Fatal("%s vanished right after unpacking" % final)
    finally:
        lock.release()
    if baked["prune_old_builds"]:
        prune_old_builds(root, baked["name"], kept_stems(baked, stem))
    return found


class Lock:
    """The extraction lock `<root>/.<stem>.lock` (flock LOCK_EX)."""

    def __init__(self, root, stem):
        """Open the lock file, creating it first without following a planted link (a new
        file linked into place, no-replace). A root we cannot write raises Unwritable; a
        lock that is not a regular file of ours (or root's) raises Distrusted."""
        self.path = os.path.join(root, lock_name(stem))
        self.held = False
        self.fd = None
        for _ in range(8):
            try:
                self.fd = open_lock(self.path)
                return
            except runtime.boot.Untrusted:
                raise Distrusted("%s is not a lock file of this user" % self.path)
            except FileNotFoundError:
                pass
            except OSError as error:
                if error.errno == errno.ELOOP:
                    raise Distrusted("%s is a symbolic link" % self.path)
                raise unwritable(error)
            create_lock(root, stem, self.path)
        raise Fatal("cannot create the lock %s" % self.path)

    def wait(self, timeout, published):
        """Take the lock, polling; return `published()` instead as soon as it finds a tree.

        Where flock does not work (ENOLCK, EOPNOTSUPP on some NFS), go on unlocked: temp
        dirs and the atomic rename keep trees whole, but leftovers then cannot be told
        from other runs' work, so they stay.
        """
        import fcntl

        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.held = True
                return None
            except BlockingIOError:
                pass
            except OSError:
                return None
            found = published()
            if found:
                self.release()
                return found
            if time.monotonic() > deadline:
                self.release()
                raise Fatal(
                    "timed out after %g s waiting for %s (another process is unpacking; "
                    "RSHIV_LOCK_TIMEOUT sets the wait)" % (timeout, self.path)
                )
            time.sleep(LOCK_POLL)

    def release(self):
        """Close the lock file, which releases the lock (the file stays, by design)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def open_lock(path):
    """The lock file's descriptor (read-write, else read-only) if it is ours or root's."""
    try:
        return runtime.boot.open_regular(path, os.O_RDWR)
    except PermissionError as error:
        if isinstance(error, runtime.boot.Untrusted):
            raise
        return runtime.boot.open_regular(path)


def create_lock(root, stem, path):
    """Make the lock 0644 under a fresh name, then link it to `path`, which never follows
    or replaces what is there (someone else's lock, or a planted link, stays)."""
    tmp = fresh(root, lock_tmp_name, stem)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise unwritable(error)
    try:
        os.fchmod(fd, 0o644)
        os.close(fd)
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError as error:
        raise unwritable(error)
    finally:
        os.unlink(tmp)


def ours(path):
    """Whether `path` is a real directory that this user owns: the only kind we delete."""
    info = runtime.boot.real_dir(path)
    return info is not None and info.st_uid == os.geteuid()


def remove_leftovers(root, stem):
    """Remove this build's temp dirs (stale: we hold its lock) and its unused trash."""
    tmp_prefix, trash_prefix = "." + stem + TMP_INFIX, TRASH_PREFIX + stem + "-"
    for entry in os.scandir(root):
        if not ours(entry.path):
            continue
        if entry.name.startswith(tmp_prefix):
            remove_tree(entry.path)
        elif entry.name.startswith(trash_prefix):
            remove_if_unused(entry.path)


def remove_if_unused(path):
    """rmtree `path` (ours) unless a process holds a lock on its marker."""
    import fcntl

    if not ours(path):
        return
    try:
        fd = runtime.boot.open_regular(os.path.join(path, runtime.boot.MARKER))
    except FileNotFoundError:
        remove_tree(path)
        return
    except OSError:
        return  # a marker that is not a file of ours: leave the tree to `rshiv cache`
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return
    finally:
        os.close(fd)
    remove_tree(path)


def remove_tree(path):
    """rmtree, ignoring errors (what is left is for `rshiv cache clean`)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def fresh(root, name, stem):
    """A fresh temp or trash path in root: `name(stem, pid, random)`."""
    return os.path.join(root, name(stem, os.getpid(), os.urandom(4).hex()))


def build(root, final, stem, baked, settings):
    """Unpack into a temp dir, check it, mark it complete and rename it into place."""
    tmp = fresh(root, tmp_name, stem)
    try:
        os.mkdir(tmp, 0o755)
    except OSError as error:
        raise unwritable(error)
    try:
        fill(tmp, final, baked, settings)
        publish(tmp, final, root, stem, settings.force_extract)
    except BaseException as error:
        remove_tree(tmp)
        if isinstance(error, OSError) and error.errno in FULL:
            raise Fatal(
                "no space left in %s to unpack %s (%d MB)" % (root, baked["name"], megabytes(baked))
            )
        if isinstance(error, OSError):
            raise Fatal("cannot unpack into %s: %s" % (error.filename or tmp, error.strerror))
        raise


def megabytes(baked):
    """The unpacked payload's size in MB, rounded up."""
    return (baked["unpacked_bytes"] + 999999) // 1000000


def fill(tmp, final, baked, settings):
    """Unpack the payload into `<tmp>/site-packages`, compile, record sources, write the marker."""
    site_packages = os.path.join(tmp, "site-packages")
    os.mkdir(site_packages, 0o755)
    status = status_line(baked, final)
    # The runtime's cached copy is compiled while the unpacking threads run outside the GIL.
    import threading

    copy = threading.Thread(target=cache_runtime, args=(tmp,))
    copy.start()
    try:
        target = baked["build_id"] if "targets" in baked else None
        entries = unpack_payload(runtime.boot.archive_path(), site_packages, target)
    finally:
        copy.join()
        if status:
            status.cancel()
    if settings.compile_pyc:
        compile_tree(site_packages, os.path.join(final, "site-packages"), settings.compile_workers)
    if baked["no_modify"]:
        record_sources(tmp, site_packages, entries)
    marker = marker_text(
        baked["name"], baked["build_id"], len(entries), sum(entry[4] for entry in entries)
    )
    write_file(os.path.join(tmp, runtime.boot.MARKER), marker.encode())


def status_line(baked, final):
    """After a second of unpacking, one line on a terminal's stderr says what is going on."""
    if not sys.stderr.isatty():
        return None
    text = "rshiv: unpacking %s (%d MB, %d files) into %s\u2026\n" % (
        baked["name"],
        megabytes(baked),
        baked["files"],
        final,
    )

    def show():
        try:
            sys.stderr.write(text)
        except UnicodeEncodeError:
            sys.stderr.write(text.replace("\u2026", "..."))
        sys.stderr.flush()

    import threading

    timer = threading.Timer(1.0, show)
    timer.daemon = True
    timer.start()
    return timer


def publish(tmp, final, root, stem, force):
    """Rename the complete temp dir to its final name (POSIX rename: atomic).

    An existing tree goes to the trash first when forced (SHIV_FORCE_EXTRACT) or incomplete,
    and is removed only when no process holds its marker. A complete one found otherwise
    (a race lost where flock does not work) is kept, and our copy dropped.
    """
    marker = os.path.join(final, runtime.boot.MARKER)
    trash = None
    if os.path.lexists(final):
        if not force and os.path.exists(marker):
            remove_tree(tmp)
            return
        trash = fresh(root, trash_name, stem)
        os.rename(final, trash)
    try:
        os.rename(tmp, final)
    except OSError as error:
        if error.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not os.path.exists(marker):
            raise
        remove_tree(tmp)
    if trash:
        remove_if_unused(trash)


def kept_stems(baked, stem):
    """The extractions `--prune-old-builds` keeps: this one, and those of the pyz's other
    targets (another Python on this machine runs them)."""
    stems = {stem}
    for target in baked.get("targets", ()):
        other = dict(baked, build_id=target["build_id"])
        stems.add(os.path.basename(runtime.boot.extraction_dir("", other)))
    return stems


def prune_old_builds(root, name, keep):
    """Remove the other extractions of this app (those not in `keep`) that no process is
    using."""
    for entry in os.scandir(root):
        if (
            entry.name not in keep
            and entry.name.startswith(name + "_")
            and ours(entry.path)
            and marker_names(entry.path, name)
        ):
            remove_extraction(root, entry.name)


def marker_names(path, name):
    """Whether the marker in `path` says it is an extraction of app `name`."""
    try:
        fd = runtime.boot.open_regular(os.path.join(path, runtime.boot.MARKER))
    except OSError:
        return False
    try:
        return ("\nname=%s\n" % name).encode() in os.read(fd, 4096)
    except OSError:
        return False
    finally:
        os.close(fd)


def remove_extraction(root, stem):
    """Take the extraction lock and the marker exclusively, rename to trash, then rmtree."""
    import fcntl

    path = os.path.join(root, stem)
    try:
        lock = runtime.boot.open_regular(os.path.join(root, lock_name(stem)))
    except OSError:
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        marker = runtime.boot.open_regular(os.path.join(path, runtime.boot.MARKER))
        try:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
            trash = fresh(root, trash_name, stem)
            os.rename(path, trash)
        finally:
            os.close(marker)
    except OSError:
        return
    finally:
        os.close(lock)
    remove_tree(trash)
