"""rshiv's warm path: find this build's extraction, put it on sys.path, run the entry point.

Python compiles this file from source at every start of the pyz, so it stays small and
imports nothing beyond what the interpreter has already loaded (plus fcntl). Everything it
needs was baked into `_BAKED` at build time, so a warm start reads nothing from the archive
and lists no directory: one open and one stat of the extraction's marker, and a sys.path
insert. A first run, an SHIV_*/RSHIV_* variable, --no-modify and --preamble go to
`_rshiv.runtime`, which calls back into the functions here for the common steps.
"""

import os
import sys

_BAKED = None  # rshiv:baked

# The marker written last into a complete extraction; a running pyz holds LOCK_SH on it.
MARKER = ".rshiv-ready"
# Variables that need the runtime (the ROOT ones are handled here).
RUNTIME_VARS = tuple(
    prefix + name
    for prefix in ("RSHIV_", "SHIV_")
    for name in (
        "ENTRY_POINT",
        "MODULE",
        "CONSOLE_SCRIPT",
        "INTERPRETER",
        "FORCE_EXTRACT",
        "EXTEND_PYTHONPATH",
        "PREPEND_PYTHONPATH",
    )
)
# Marker descriptors kept open (and shared-locked) for the life of the process.
_HELD = []


def fail(message):
    """Print one `rshiv: error:` line and exit 1."""
    raise SystemExit("rshiv: error: " + message)


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
        base = xdg if xdg and os.path.isabs(xdg) else os.path.join("~", ".cache")
        root = os.path.join(base, "rshiv")
    return os.path.abspath(os.path.expanduser(root))


def fallback_root():
    """The private per-user root used when the cache root is not writable."""
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", "rshiv-%d" % os.getuid())


def is_private_dir(path):
    """Whether `path` is a real directory (not a symlink) owned by us and writable by no one else."""
    import stat

    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & 0o022
    )


def extraction_dir(root, baked):
    """`<root>/<name>_<build id>`."""
    return os.path.join(root, baked["name"] + "_" + baked["build_id"])


def open_extraction(root, baked):
    """Return the extraction's directory if it is published, holding LOCK_SH on its marker.

    None when it is missing, being removed (an exclusive lock on the marker), or was replaced
    between our open and our lock (the marker path then names another file).
    """
    import fcntl

    path = extraction_dir(root, baked)
    marker = os.path.join(path, MARKER)
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
            pass  # no flock here (NFS): the atomic rename alone keeps the tree whole
        named, held = os.stat(marker), os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if (named.st_dev, named.st_ino) != (held.st_dev, held.st_ino):
        os.close(fd)
        return None
    touch_marker(marker, named.st_mtime)
    _HELD.append(fd)
    return path


def touch_marker(marker, mtime):
    """Record the last use in the marker's mtime, at most once a minute."""
    import time

    if time.time() - mtime > 60:
        try:
            os.utime(marker)
        except OSError:
            pass  # a read-only cache still runs


def find_extraction(baked):
    """The published extraction under the cache root or, when private, the fallback root."""
    found = open_extraction(cache_root(baked), baked)
    if found is None and is_private_dir(fallback_root()):
        found = open_extraction(fallback_root(), baked)
    return found


def glibc_version():
    """The running glibc's (major, minor), or None when the C library is not glibc."""
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
        return tuple(int(part) for part in version.split(".")[:2])
    except (AttributeError, ValueError, OSError):
        return None


def native_fits(native):
    """Whether this interpreter can load the payload's compiled extensions (PEP 425 tags)."""
    if native is None:
        return True
    version = sys.version_info[:2]
    cpython = sys.implementation.name == "cpython"
    if native["python"] and (not cpython or version != tuple(native["python"])):
        return False
    if native["abi3"] and (not cpython or version < tuple(native["abi3"])):
        return False
    if native["platform"] and native["platform"] != sys.platform:
        return False
    if native["machines"] and os.uname().machine not in native["machines"]:
        return False
    if native["libc"] == "glibc" and sys.platform == "linux":
        found = glibc_version()
        return found is not None and found >= tuple(native["libc_min"] or (0, 0))
    if native["libc"] == "musl":
        return glibc_version() is None
    return True


def site_dirs_index():
    """Index of the first user or system site-packages entry in sys.path, else its length."""
    import site

    system = set(site.getsitepackages()) if hasattr(site, "getsitepackages") else set()
    if getattr(site, "USER_SITE", None):
        system.add(site.USER_SITE)
    for index, entry in enumerate(sys.path):
        if entry in system:
            return index
    return len(sys.path)


def setup_path(site_packages, baked):
    """Put site-packages after the stdlib and before the user's and system's site-packages.

    Its `.pth` files (names baked at build time) are processed as `site.addsitedir` would,
    and what they add goes there too. Returns the entries added.
    """
    import site

    index = site_dirs_index()
    if baked["isolated"]:
        del sys.path[index:]
    length = len(sys.path)
    sys.path.append(site_packages)
    for name in baked["pth"]:
        site.addpackage(site_packages, name, set())
    added = sys.path[length:]
    sys.path[index:] = added + sys.path[index:length]
    return added


def extend_pythonpath(paths):
    """Append `paths` to PYTHONPATH for child processes, without duplicates (like shiv's -E)."""
    current = os.environ.get("PYTHONPATH")
    entries = current.split(os.pathsep) if current else []
    entries += [path for path in paths if path not in entries]
    os.environ["PYTHONPATH"] = os.pathsep.join(entries)


def names_module(error, module):
    """Whether a ModuleNotFoundError is about `module` or a parent package, not a later import."""
    missing = error.name
    return missing is not None and (module == missing or module.startswith(missing + "."))


def missing_entry(spec, reason):
    """Fail because the entry point `spec` does not exist."""
    fail("entry point %r not found: %s" % (spec, reason))


def call_entry(spec):
    """`module:attr` (attr may be dotted): import, call, and exit with what it returns."""
    module_name, _, attrs = spec.partition(":")
    try:
        __import__(module_name)
    except ModuleNotFoundError as error:
        if not names_module(error, module_name):
            raise
        missing_entry(spec, error)
    target = sys.modules[module_name]
    try:
        for attr in attrs.split("."):
            target = getattr(target, attr)
    except AttributeError as error:
        missing_entry(spec, error)
    sys.exit(target())


def run_module(name):
    """Run a module as `python -m name` does."""
    import importlib.util
    import runpy

    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(name + ".__main__")
    except ModuleNotFoundError as error:
        if not names_module(error, name):
            raise
        spec = None
    if spec is None:
        missing_entry(name, "no module named %r (or it has no __main__)" % name)
    runpy.run_module(name, run_name="__main__", alter_sys=True)


def run_script(path):
    """Run a payload file as `__main__`, leaving sys.argv[0] the pyz as invoked (shiv #179)."""
    try:
        with open(path, "rb") as source:
            code = source.read()
    except OSError as error:
        fail("script %r not found: %s" % (path, error.strerror))
    exec_as_main(code, path)


def exec_as_main(source, filename):
    """Execute source code in a fresh `__main__` module, as the interpreter runs a script."""
    main = type(sys)("__main__")
    main.__file__ = filename
    sys.modules["__main__"] = main
    exec(compile(source, filename, "exec"), main.__dict__)


def dispatch(site_packages, entry_point, script):
    """Run the entry point or the script; a script that ends normally exits 0 (shiv #240)."""
    if entry_point and ":" in entry_point:
        call_entry(entry_point)
    elif entry_point:
        run_module(entry_point)
    elif script:
        run_script(os.path.join(site_packages, script))
    else:
        runtime().interact([])


def linked_entry(baked):
    """The console script named like sys.argv[0] when the pyz was run through such a symlink."""
    invoked = sys.argv[0]
    target = baked["console_scripts"].get(os.path.basename(invoked))
    if target and os.path.islink(invoked):
        return target
    return None


def runtime():
    """The cold path and rare features, from `_rshiv/runtime.py` in the pyz."""
    from _rshiv import runtime

    return runtime


def main():
    """Start the app: warm when possible, else through the runtime."""
    baked = _BAKED
    if not native_fits(baked["native"]):
        runtime().native_mismatch(baked["native"])
    needs_runtime = baked["no_modify"] or baked["preamble"]
    if not needs_runtime and not any(name in os.environ for name in RUNTIME_VARS):
        site_packages = find_extraction(baked)
        if site_packages is not None:
            site_packages = os.path.join(site_packages, "site-packages")
            added = setup_path(site_packages, baked)
            if baked["extend_pythonpath"]:
                extend_pythonpath(added)
            linked = linked_entry(baked)
            dispatch(site_packages, linked or baked["entry_point"], baked["script"])
            return
    runtime().main(baked, sys.modules[__name__])


if __name__ == "__main__":
    main()
