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


def obtain(baked, settings):
    """Unpack the payload (the stub found no extraction, or SHIV_FORCE_EXTRACT); return it.

    A forced run first lets go of the tree it found, so the old one can be removed.
    """
    for fd, _, _ in runtime.boot.HELD:
        os.close(fd)
    del runtime.boot.HELD[:]
    root = runtime.boot.cache_root(baked)
    try:
        return unpack_into(root, baked, settings)
    except Unwritable as error:
        reason = str(error)
    fallback = private_fallback(runtime.boot.fallback_root(), root, reason)
    warn("cannot write to %s (%s); using %s instead" % (root, reason, fallback))
    try:
        return unpack_into(fallback, baked, settings)
    except Unwritable as error:
        raise Fatal("cannot write to %s (%s) nor to %s (%s)" % (root, reason, fallback, error))


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
    if not runtime.boot.is_private_dir(path):
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
    """Unpack the payload into `<root>/<name>_<id>` under its lock and publish it; return it."""
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as error:
        raise unwritable(error)
    stem = os.path.basename(runtime.boot.extraction_dir(root, baked))
    lock = Lock(os.path.join(root, lock_name(stem)))

    def published():
        return None if settings.force_extract else runtime.boot.open_extraction(root, baked)

    found = lock.wait(settings.lock_timeout, published)
    if found:
        return found
    try:
        found = published()
        if found:
            return found
        if lock.held:
            remove_leftovers(root, stem)
        final = runtime.boot.extraction_dir(root, baked)
        build(root, final, stem, baked, settings)
        found = runtime.boot.open_extraction(root, baked)
        if found is None:
            raise Fatal("%s vanished right after unpacking" % final)
    finally:
        lock.release()
    if baked["prune_old_builds"]:
        prune_old_builds(root, baked["name"], stem)
    return found


class Lock:
    """The extraction lock `<root>/.<stem>.lock` (flock LOCK_EX)."""

    def __init__(self, path):
        """Open (create) the lock file; a root we cannot write raises Unwritable."""
        self.path = path
        self.held = False
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as error:
            try:
                self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                raise unwritable(error)

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


def remove_leftovers(root, stem):
    """Remove this build's temp dirs (stale: we hold its lock) and its unused trash."""
    tmp_prefix, trash_prefix = "." + stem + TMP_INFIX, TRASH_PREFIX + stem + "-"
    for entry in os.scandir(root):
        if entry.name.startswith(tmp_prefix):
            remove_tree(entry.path)
        elif entry.name.startswith(trash_prefix):
            remove_if_unused(entry.path)


def remove_if_unused(path):
    """rmtree `path` unless a process holds a lock on its marker."""
    import fcntl

    try:
        fd = os.open(os.path.join(path, runtime.boot.MARKER), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        remove_tree(path)
        return
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
        os.mkdir(tmp)
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
    os.mkdir(site_packages)
    status = status_line(baked, final)
    # The runtime's cached copy is compiled while the unpacking threads run outside the GIL.
    import threading

    copy = threading.Thread(target=cache_runtime, args=(tmp,))
    copy.start()
    try:
        entries = unpack_payload(runtime.boot.archive_path(), site_packages)
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


def prune_old_builds(root, name, keep):
    """Remove the other extractions of this app that no process is using."""
    for entry in os.scandir(root):
        if (
            entry.name != keep
            and entry.name.startswith(name + "_")
            and marker_names(entry.path, name)
        ):
            remove_extraction(root, entry.name)


def marker_names(path, name):
    """Whether the marker in `path` says it is an extraction of app `name`."""
    try:
        with open(os.path.join(path, runtime.boot.MARKER), "rb") as marker:
            return ("\nname=%s\n" % name).encode() in marker.read(4096)
    except OSError:
        return False


def remove_extraction(root, stem):
    """Take the extraction lock and the marker exclusively, rename to trash, then rmtree."""
    import fcntl

    path = os.path.join(root, stem)
    try:
        lock = os.open(os.path.join(root, lock_name(stem)), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        marker = os.open(os.path.join(path, runtime.boot.MARKER), os.O_RDONLY | os.O_CLOEXEC)
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
