"""Bytecode for the extraction, stored as `_rshiv/bytecode.py`: a warm start imports .pyc.

The extraction is an install rshiv manages, like a venv's site-packages after `pip install`
(which compiles everything it installs). So for the extraction's own sys.path entries, and
only those, `install` puts a path hook first on `sys.path_hooks`: a FileFinder whose source
loader reads a valid .pyc, or compiles the source and writes the .pyc even under
PYTHONDONTWRITEBYTECODE, ignoring PYTHONPYCACHEPREFIX. Every other path entry (the user's
trees, other site-packages) keeps the standard loaders and the user's settings.

Where (PEP 3147, PEP 488 names: `<stem>.<cache_tag>[.opt-N].pyc`):
- the extraction's own `__pycache__`, when this user may write the extraction;
- else a mirror in the user's private root (the stub's `fallback_root`, a 0700 directory
  of this user that no one else may write), `<private>/.bytecode/<extraction name>/...`.
Reads try the extraction's, then (for an extraction not ours) the mirror. A .pyc is used
only if it is a regular file owned by this user or root that no one else may write, its
magic is this interpreter's, and (PEP 552) its timestamp header matches the source's mtime
and size, or its hash header the source's hash.
Writes are atomic (a private temp name, then rename), files 0644 and directories 0755
whatever the umask; any OSError skips the write silently, so a read-only extraction with
no writable private root runs at source-compile speed, without a warning.
"""

import marshal
import os
import sys
from importlib.machinery import (
    BYTECODE_SUFFIXES,
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    ExtensionFileLoader,
    FileFinder,
    SourceFileLoader,
    SourcelessFileLoader,
)
from importlib.util import MAGIC_NUMBER, source_hash

MIRROR = ".bytecode"  # src/cache/layout.rs: BYTECODE_MIRROR (its drift test checks this)
# PEP 552 flags: 0 = timestamp-based; bit 0 = hash-based, bit 1 = check_source.
TIMESTAMP = 0
HASH_BASED = 1
HEADER_SIZE = 16
MASK32 = 0xFFFFFFFF


class Place:
    """One extraction: where its bytecode is read from and written to."""

    def __init__(self, extraction, private_root, is_private_dir):
        """`private_root` is this user's private root, `is_private_dir` the stub's check."""
        self.extraction = extraction
        self.prefix = extraction + os.sep
        self.ours = writable(extraction)
        self.private_root = private_root
        self.is_private_dir = is_private_dir
        self.mirror_checked = False
        self.mirror = None
        suffix = ".opt-%d" % sys.flags.optimize if sys.flags.optimize else ""
        self.suffix = ".%s%s.pyc" % (sys.implementation.cache_tag, suffix)

    def own_pyc(self, source):
        """`<dir>/__pycache__/<stem>.<tag>[.opt-N].pyc` beside the extracted source."""
        folder, name = os.path.split(source)
        return os.path.join(folder, "__pycache__", name.rpartition(".")[0] + self.suffix)

    def mirror_pyc(self, source):
        """The same name under this user's private mirror, or None when there is none."""
        if not self.mirror_checked:
            self.mirror_checked = True
            self.mirror = private_mirror(self)
        if self.mirror is None:
            return None
        return os.path.join(self.mirror, os.path.relpath(self.own_pyc(source), self.extraction))

    def readable(self, source):
        """The .pyc paths to try, best first (an extraction of ours has no mirror)."""
        yield self.own_pyc(source)
        mirror = None if self.ours else self.mirror_pyc(source)
        if mirror:
            yield mirror

    def cached(self, source):
        """The .pyc a module's `__cached__` names: our own, or the extraction's when it has
        one, else the mirror's (or, with no mirror, the extraction's)."""
        own = self.own_pyc(source)
        if self.ours or os.path.exists(own):
            return own
        return self.mirror_pyc(source) or own

    def writable_pycs(self, source):
        """Where to write a .pyc: our own extraction, else the private mirror."""
        if self.ours:
            yield self.own_pyc(source)
            return
        mirror = self.mirror_pyc(source)
        if mirror:
            yield mirror


def writable(path):
    """Whether this user may write `path` (a directory of ours, or root's when we are root)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return info.st_uid == os.getuid() and os.access(path, os.W_OK)


def private_mirror(place):
    """`<private root>/.bytecode/<extraction name>`, the private root made 0700 if missing;
    None when it is not a private directory of this user (then nothing is mirrored)."""
    root = place.private_root
    try:
        os.mkdir(root, 0o700)
    except OSError:
        pass
    if not place.is_private_dir(root):
        return None
    return os.path.join(root, MIRROR, os.path.basename(place.extraction))


def trusted(info):
    """Whether a .pyc's stat says it came from this user or root and only they may change it."""
    import stat

    return (
        stat.S_ISREG(info.st_mode)
        and info.st_uid in (0, os.getuid())
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def read_pyc(path):
    """The bytes of a trusted .pyc at `path` (no symlink followed), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not trusted(os.fstat(fd)):
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)


def valid_code(data, source_info, source_bytes):
    """The code object in `data` if it is this interpreter's bytecode of this source, else None.

    `source_bytes()` reads the source, for hash-based .pyc only (PEP 552).
    """
    if data is None or len(data) < HEADER_SIZE or data[:4] != MAGIC_NUMBER:
        return None
    flags = int.from_bytes(data[4:8], "little")
    if flags == TIMESTAMP:
        if int.from_bytes(data[8:12], "little") != int(source_info.st_mtime) & MASK32:
            return None
        if int.from_bytes(data[12:16], "little") != source_info.st_size & MASK32:
            return None
    elif flags & ~3 or data[8:16] != source_hash(source_bytes()):
        return None  # unknown flags, or a hash that does not match (checked or not)
    try:
        return marshal.loads(memoryview(data)[HEADER_SIZE:])
    except (EOFError, ValueError, TypeError):
        return None


def timestamp_pyc(code, source_info):
    """PEP 552 timestamp-based .pyc bytes: magic, flags 0, mtime, size, marshalled code."""
    return b"".join(
        (
            MAGIC_NUMBER,
            TIMESTAMP.to_bytes(4, "little"),
            (int(source_info.st_mtime) & MASK32).to_bytes(4, "little"),
            (source_info.st_size & MASK32).to_bytes(4, "little"),
            marshal.dumps(code),
        )
    )


def make_dirs(path):
    """Create `path` and its missing parents 0755 whatever the umask."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent != path:
        make_dirs(parent)
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        return
    os.chmod(path, 0o755)


def write_pyc(path, data):
    """Write `data` to `path` atomically, 0644 whatever the umask; False on any OSError."""
    partial = "%s.%d-%s.tmp" % (path, os.getpid(), os.urandom(4).hex())
    try:
        make_dirs(os.path.dirname(path))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(partial, flags, 0o644)
        try:
            os.fchmod(fd, 0o644)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(partial, path)
        return True
    except OSError:
        try:
            os.unlink(partial)
        except OSError:
            pass
        return False


def verbose(message, *args):
    """`python -v` shows where each module's code came from, as the standard loader does."""
    if sys.flags.verbose:
        sys.stderr.write("# " + message % args + "\n")


class Loader(SourceFileLoader):
    """A source loader for the extraction: reads and writes bytecode as described above."""

    place = None  # set on the subclass `install` makes for one extraction

    def get_code(self, fullname):
        """The module's code: from a valid .pyc, else compiled from source (and cached)."""
        source = self.get_filename(fullname)
        info = os.stat(source)
        data = []

        def source_bytes():
            if not data:
                data.append(self.get_data(source))
            return data[0]

        for pyc in self.place.readable(source):
            code = valid_code(read_pyc(pyc), info, source_bytes)
            if code is not None:
                verbose("code object from %r", pyc)
                return code
        code = self.source_to_code(source_bytes(), source)
        pyc_data = timestamp_pyc(code, info)
        for pyc in self.place.writable_pycs(source):
            if write_pyc(pyc, pyc_data):
                verbose("wrote %r", pyc)
                break
        return code


class Finder(FileFinder):
    """A FileFinder whose modules record, as `__cached__`, where their bytecode is kept."""

    def find_spec(self, fullname, target=None):
        """FileFinder's spec, with `cached` naming our .pyc (not PYTHONPYCACHEPREFIX's)."""
        spec = super().find_spec(fullname, target)
        if spec is not None and isinstance(spec.loader, Loader):
            spec.cached = spec.loader.place.cached(spec.origin)
        return spec


def install(extraction, private_root, is_private_dir):
    """Import the extraction's modules (every sys.path entry inside it) through our loader.

    `private_root` is this user's private root (for the mirror), `is_private_dir` the
    stub's check that it is one. Without a cache tag, Python caches no bytecode: nor do we.
    """
    if sys.implementation.cache_tag is None:
        return
    place = Place(extraction, private_root, is_private_dir)
    loader = type("Loader", (Loader,), {"place": place})
    details = [
        (ExtensionFileLoader, EXTENSION_SUFFIXES),
        (loader, SOURCE_SUFFIXES),
        (SourcelessFileLoader, BYTECODE_SUFFIXES),
    ]

    def hook(entry):
        """A finder for directories inside the extraction; ImportError for anything else."""
        if isinstance(entry, str) and entry.startswith(place.prefix) and os.path.isdir(entry):
            return Finder(entry, *details)
        raise ImportError("not in the extraction")

    sys.path_hooks.insert(0, hook)
    for entry in list(sys.path_importer_cache):
        if isinstance(entry, str) and entry.startswith(place.prefix):
            del sys.path_importer_cache[entry]
