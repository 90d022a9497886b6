"""rshiv's start-up stub (the PEP 441 `__main__.py`): find the extraction, hand over.

Python compiles this file from source twice at every start (zipimport's get_filename
compiles it too), so it holds only what must run before the extraction is found: one open,
flock and stat of its marker. The runtime (`_rshiv/runtime.py`) then comes from the
extraction's bytecode-cached copy, or from the pyz on a first run. The runtime calls back
into the names here (MARKER, HELD and the functions): change the two files together.
"""

import os
import sys

_BAKED = None  # rshiv:baked

MARKER = ".rshiv-ready"
RUNTIME = "_rshiv/runtime.py"
BYTECODE = "_rshiv/bytecode.py"
# Descriptors of the markers we hold LOCK_SH on, for the life of the process.
HELD = []


def archive_path():
    """The pyz being run (`__file__` is `<pyz>/__main__.py`)."""
    return os.path.dirname(__file__)


def cache_root(baked):
    """RSHIV_ROOT, else SHIV_ROOT, else the baked --root (`$VAR` read now), else XDG's cache."""
    environ = os.environ
    root = environ.get("RSHIV_ROOT") or environ.get("SHIV_ROOT")
    if not root and baked["root"]:
        root = baked["root"]
        if root.startswith("$"):
            name, _, rest = root[1:].partition("/")
            value = environ.get(name)
            root = os.path.join(value, rest) if value and rest else value
    if not root:
        xdg = environ.get("XDG_CACHE_HOME")
        root = os.path.join(xdg if xdg and xdg[0] == "/" else "~/.cache", "rshiv")
    return os.path.abspath(os.path.expanduser(root))


def fallback_root():
    """The private per-user root used when the cache root is not writable."""
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", "rshiv-%d" % os.getuid())


def is_private_dir(path):
    """Whether `path` is a directory (not a symlink) of ours that no one else may write."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return info.st_mode & 0o170022 == 0o040000 and info.st_uid == os.getuid()


def extraction_dir(root, baked):
    """`<root>/<name>_<build id>`."""
    return os.path.join(root, baked["name"] + "_" + baked["build_id"])


def open_extraction(root, baked):
    """The extraction's directory if published, with LOCK_SH held on its marker; else None.

    None also when it is being removed (someone holds LOCK_EX) or was replaced between our
    open and our lock (the marker's path then names another file).
    """
    import fcntl

    marker = os.path.join(extraction_dir(root, baked), MARKER)
    try:
        fd = os.open(marker, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise
        except OSError:
            pass  # no flock here (NFS): the atomic rename alone keeps trees whole
        named, held = os.stat(marker), os.fstat(fd)
        if (named.st_dev, named.st_ino) != (held.st_dev, held.st_ino):
            raise FileNotFoundError(marker)
    except OSError:
        os.close(fd)
        return None
    HELD.append((fd, marker, named.st_mtime))
    return os.path.dirname(marker)


def find_extraction(baked):
    """The published extraction under the cache root; under the private fallback root only
    while the cache root cannot be written (once it can, it wins: ops look there)."""
    root = cache_root(baked)
    found = open_extraction(root, baked)
    if found is None and not root_writable(root) and is_private_dir(fallback_root()):
        found = open_extraction(fallback_root(), baked)
    return found


def root_writable(root):
    """Whether `root` is, or could be made as, a directory this process may write into."""
    path = root
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK)


def copy_path(extraction, member, crc):
    """Where the extraction keeps its copy of `member` whose CRC-32 is `crc`."""
    stem = os.path.basename(member)[:-3]
    return os.path.join(extraction, ".rshiv", "%s-%08x.py" % (stem, crc))


def without_pycache_prefix(function, *args):
    """`function(*args)` with PYTHONPYCACHEPREFIX off: the copies' bytecode stays in the
    extraction (the prefix is for the user's code, and may be unwritable or shared)."""
    prefix = sys.pycache_prefix
    sys.pycache_prefix = None
    try:
        return function(*args)
    finally:
        sys.pycache_prefix = prefix


def exec_copy(spec):
    """Create and run the module of `spec`."""
    import importlib.util

    module = importlib.util.module_from_spec(spec)
    # Registered first, so that `extract` and `unpack` share the runtime's classes.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_copy(extraction, member, name):
    """The extraction's cached copy `.rshiv/<stem>-<crc>.py` of the pyz's `member` (named by
    its CRC-32 in zipimport's table of the pyz), run as module `name`; None without one."""
    import importlib.util
    import zipimport

    try:
        crc = zipimport._zip_directory_cache[__loader__.archive][member][7]
        path = copy_path(extraction, member, crc)
        spec = importlib.util.spec_from_file_location(name, path)
        return without_pycache_prefix(exec_copy, spec)
    except (AttributeError, KeyError, IndexError, ImportError, OSError):
        sys.modules.pop(name, None)  # the pyz's copy works too
        return None


def load_runtime(extraction):
    """The extraction's cached copy of this pyz's runtime, else the pyz's."""
    runtime = extraction and load_copy(extraction, RUNTIME, "_rshiv.runtime")
    if runtime:
        return runtime
    from _rshiv import runtime

    return runtime


def main():
    """Start the app: warm from the extraction when there is one, else unpack first."""
    extraction = find_extraction(_BAKED)
    load_runtime(extraction).start(_BAKED, sys.modules[__name__], extraction)


if __name__ == "__main__":
    main()
