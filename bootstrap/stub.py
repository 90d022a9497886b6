"""rshiv's start-up stub, `_rshiv/stub.py`: find the extraction, hand over.

`__main__.py` runs it from the pyz at every start: its bytecode `_rshiv/stub.pyc` when that
is the running interpreter's, else compiled from source, once (an import through zipimport
would compile it twice). It holds only what must run before the extraction is found: the
lstat of each part of the cache root (nothing another user controls is trusted), one open,
fstat, flock and stat of the marker. The runtime (`_rshiv/runtime.py`) then comes from the
extraction's bytecode-cached copy, or from the pyz on a first run. The runtime calls back
into the names here (MARKER, HELD and the functions): change the two files together.
"""

import os
import sys

_BAKED = None  # rshiv:baked

# The cache layout and the pyz's member names, as src/cache/layout.rs and
# src/archive/bootstrap.rs define them (their tests run this code and fail on drift).
ROOT_VARS = ("RSHIV_ROOT", "SHIV_ROOT")
ROOT_DIR = "rshiv"
FALLBACK_PREFIX = "rshiv-"
FALLBACK_TMP = "/tmp"
MARKER = ".rshiv-ready"
COPY = ".rshiv/%s-%08x.py"  # a bootstrap module's copy: stem, CRC-32
RUNTIME = "_rshiv/runtime.py"
BYTECODE = "_rshiv/bytecode.py"
TARGET = "_rshiv/target.py"
# Descriptors of the markers we hold LOCK_SH on, for the life of the process.
HELD = []
# (root, why) of cache roots refused as not trusted, and extractions refused.
REFUSED = []
DISTRUSTED = []


def archive_path():
    """The pyz being run (`__file__` is `<pyz>/_rshiv/stub.py`)."""
    return os.path.dirname(os.path.dirname(__file__))


def cache_root(baked):
    """RSHIV_ROOT, else SHIV_ROOT, else the baked --root (`$VAR` read now), else XDG's cache."""
    environ = os.environ
    root = environ.get(ROOT_VARS[0]) or environ.get(ROOT_VARS[1])
    if not root and baked["root"]:
        root = baked["root"]
        if root.startswith("$"):
            name, _, rest = root[1:].partition("/")
            value = environ.get(name)
            root = os.path.join(value, rest) if value and rest else value
    if not root:
        xdg = environ.get("XDG_CACHE_HOME")
        root = os.path.join(xdg if xdg and xdg[0] == "/" else "~/.cache", ROOT_DIR)
    return os.path.abspath(os.path.expanduser(root))


def fallback_root():
    """The private per-user root used when the cache root is not writable or not trusted:
    `$TMPDIR/rshiv-<uid>`, or under /tmp when TMPDIR runs through another user's files."""
    name = FALLBACK_PREFIX + str(os.getuid())
    tmp = os.environ.get("TMPDIR") or FALLBACK_TMP
    if tmp != FALLBACK_TMP and root_problem(os.path.abspath(tmp)):
        tmp = FALLBACK_TMP
    return os.path.join(tmp, name)


class Untrusted(OSError):
    """A path another user controls (or could change): never used, never deleted."""


def trusted(info):
    """Whether a stat says the user (or root) made it and no one else may change it."""
    return info.st_uid in (0, os.geteuid()) and not info.st_mode & 0o022


def root_problem(root, depth=0):
    """Why `root` is not to be used, or None: each existing component must belong to the
    user or root and be writable by no one else unless sticky (a symlink's target is checked
    the same way). A missing part is fine: this process makes it."""
    path, links = "", False
    for part in root.split("/")[1:]:
        path += "/" + part
        try:
            info = os.lstat(path)
        except OSError:
            break
        if info.st_uid not in (0, os.geteuid()):
            return "%s belongs to another user (uid %d)" % (path, info.st_uid)
        if info.st_mode & 0o170000 == 0o120000:
            links = True
        elif not info.st_mode & 0o1000 and (
            info.st_mode & 0o002 or info.st_mode & 0o020 and not private_group(info.st_gid)
        ):
            return "%s may be written by other users" % path
    if links and depth < 8:
        return root_problem(os.path.realpath(root), depth + 1)
    return None


def private_group(gid):
    """Whether `gid` is the user's own group with no other member: a user private group,
    whose group-writable directories (umask 002) no one else may write."""
    if gid != os.getegid():
        return False
    try:
        import grp
        import pwd

        members = grp.getgrgid(gid).gr_mem
        return not members or set(members) == {pwd.getpwuid(os.geteuid()).pw_name}
    except (ImportError, KeyError):
        return False


def open_regular(path, flags=os.O_RDONLY):
    """A descriptor of `path` if it is a regular file that can be trusted, never waiting (a
    FIFO) nor following a link; else Untrusted, or the OSError of the open."""
    fd = os.open(path, flags | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    info = os.fstat(fd)
    if info.st_mode & 0o170000 != 0o100000 or not trusted(info):
        os.close(fd)
        raise Untrusted("not a regular file of this user or root", path)
    return fd


def real_dir(path):
    """The lstat of `path` if it is a directory (not a symlink), else None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if info.st_mode & 0o170000 == 0o040000 else None


def is_private_dir(path):
    """Whether `path` is a directory (not a symlink) of ours that no one else may write."""
    info = real_dir(path)
    return info is not None and not info.st_mode & 0o022 and info.st_uid == os.getuid()


def trusted_dir(path):
    """Whether `path` is a real directory that the user or root made, writable by no other."""
    info = real_dir(path)
    return info is not None and trusted(info)


def extraction_dir(root, baked):
    """`<root>/<name>_<build id>`."""
    return os.path.join(root, baked["name"] + "_" + baked["build_id"])


def open_extraction(root, baked):
    """The extraction's directory if published, with LOCK_SH held on its marker; else None.

    None also when it is being removed (someone holds LOCK_EX), was replaced between our
    open and our lock (the marker's path then names another file), or cannot be trusted
    (then it is in DISTRUSTED).
    """
    import fcntl

    path = extraction_dir(root, baked)
    marker = os.path.join(path, MARKER)
    try:
        fd = open_regular(marker)
    except Untrusted:
        DISTRUSTED.append(path)
        return None
    except OSError:
        return None
    try:
        if not trusted_dir(path):
            DISTRUSTED.append(path)
            raise Untrusted(path)
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
    return path


def find_extraction(baked):
    """The published extraction under the cache root; under the private fallback root only
    while the cache root cannot be written or trusted (once it can, it wins: ops look
    there). A root refused, and why, goes to REFUSED for the runtime to say."""
    root = cache_root(baked)
    problem = root_problem(root)
    if problem:
        REFUSED.append((root, problem))
    else:
        found = open_extraction(root, baked)
        if found is not None or (not DISTRUSTED and root_writable(root)):
            return found
    fallback = fallback_root()
    if is_private_dir(fallback):
        return open_extraction(fallback, baked)
    return None


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
    return os.path.join(extraction, COPY % (stem, crc))


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
    its CRC-32 in zipimport's table of the pyz), run as module `name`; None without one, or
    when the copy, its folder or its `__pycache__` is not what this user or root made."""
    import importlib.util
    import zipimport

    try:
        crc = zipimport._zip_directory_cache[__loader__.archive][member][7]
        path = copy_path(extraction, member, crc)
        folder = os.path.dirname(path)
        for part in (folder, os.path.join(folder, "__pycache__")):
            if os.path.lexists(part) and not trusted_dir(part):
                raise ImportError(part)
        info = os.lstat(path)
        if info.st_mode & 0o170000 != 0o100000 or not trusted(info):
            raise ImportError(path)
        spec = importlib.util.spec_from_file_location(name, path)
        return without_pycache_prefix(exec_copy, spec)
    except (AttributeError, KeyError, IndexError, ImportError, OSError):
        sys.modules.pop(name, None)  # the pyz's copy works too
        return None


def pyz_module(member):
    """The module of the pyz's bootstrap file `member` (`_rshiv/runtime.py` is
    `_rshiv.runtime`), run from the pyz unless already loaded. Compiled once: an import
    through zipimport would compile it twice (its get_filename compiles too)."""
    import importlib.util

    name = member[:-3].replace("/", ".")
    module = sys.modules.get(name)
    if module is not None:
        return module
    path = os.path.join(archive_path(), member)
    module = importlib.util.module_from_spec(
        importlib.util.spec_from_loader(name, __loader__, origin=path)
    )
    module.__file__ = path
    sys.modules[name] = module
    try:
        exec(compile(__loader__.get_data(path), path, "exec"), vars(module))
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_runtime(extraction):
    """The extraction's cached copy of this pyz's runtime, else the pyz's."""
    runtime = extraction and load_copy(extraction, RUNTIME, "_rshiv.runtime")
    return runtime or pyz_module(RUNTIME)


def choose_target(baked):
    """A multi-target pyz's build for this interpreter: the one target of this CPython
    version (the runtime checks its native needs, as for any pyz), else what
    `_rshiv/target.py` chooses (run from the pyz: compiled, so only when needed)."""
    targets = baked["targets"]
    same = [i for i, t in enumerate(targets) if t["python"] == list(sys.version_info[:2])]
    if len(same) != 1 or sys.implementation.name != "cpython":
        return pyz_module(TARGET).choose(baked)
    return dict(baked, **targets[same[0]])


def main():
    """Start the app: warm from the extraction when there is one, else unpack first."""
    baked = _BAKED
    if "targets" in baked:
        baked = choose_target(baked)
    extraction = find_extraction(baked)
    load_runtime(extraction).start(baked, sys.modules[__name__], extraction)

