"""rshiv's runtime, stored in every pyz as `_rshiv/runtime.py`: everything after the stub.

The stub (`__main__.py`) finds the extraction and calls `start`: check the payload's native
needs, read the SHIV_*/RSHIV_* variables, unpack on a first run, set sys.path, run the
preamble and the entry point. Warm starts load this module from a bytecode-cached copy in
the extraction (see `cache_runtime`), so its size costs them nothing.

The extraction protocol (lock, temp dir, marker, atomic rename, trash) is the one
`rshiv cache` (src/cache.rs) follows.

Unpacking reads the payload (`_rshiv/payload.zip`, a stored inner zip) straight from the pyz
with its own small ZIP reader (APPNOTE.TXT 4.3: end of central directory, ZIP64 records,
central and local headers), then inflates in threads: zlib and file writes release the
GIL, so the work spreads over the cores, biggest files first.
"""

import errno
import os
import sys
import time

PAYLOAD = "_rshiv/payload.zip"
SOURCES = ".rshiv-sources"
TRUE_WORDS = ("yes", "true", "t", "1")
ENTRY_VARS = ("ENTRY_POINT", "MODULE", "CONSOLE_SCRIPT", "INTERPRETER")
# Errors that mean "this root is not ours to write": fall back to a private root.
UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST)
FULL = (errno.ENOSPC, errno.EDQUOT)
LOCK_POLL = 0.02
# Files bigger than this are inflated in pieces, to bound memory per worker.
WHOLE_FILE_MAX = 1 << 20
READ_PIECE = 256 << 10

# Records of APPNOTE.TXT 4.3.16, 4.3.15, 4.3.14, 4.3.12 and 4.3.7 (struct formats, sizes).
END, END_SIZE = "<4s4H2LH", 22
END64_LOCATOR_SIZE = 20
END64, END64_SIZE = "<4sQ2H2L4Q", 56
CENTRAL, CENTRAL_SIZE = "<4s6H3L5H2L", 46
LOCAL_SIZE = 30


class Fatal(Exception):
    """An error the user can act on: printed as one `rshiv: error:` line, exit 1."""


class Unwritable(Exception):
    """The cache root cannot be written: use the private fallback root."""


# The `__main__` module (the stub), set by start().
boot = None


# Settings


def env_value(*names):
    """The first non-empty of RSHIV_<name>, then SHIV_<name>, for each name in turn."""
    for prefix in ("RSHIV_", "SHIV_"):
        for name in names:
            value = os.environ.get(prefix + name)
            if value:
                return value
    return None


def env_flag(name, default=False):
    """A boolean variable, parsed like shiv's (yes/true/t/1, any case); `default` if unset."""
    value = env_value(name)
    if value is None:
        return default
    return value.strip().lower() in TRUE_WORDS


class Settings:
    """What the environment asks of this run, over the baked defaults."""

    def __init__(self, baked):
        """Read the SHIV_*/RSHIV_* variables."""
        self.entry_point = env_value("ENTRY_POINT", "MODULE")
        self.console_script = env_value("CONSOLE_SCRIPT")
        self.interpreter = env_flag("INTERPRETER")
        self.force_extract = env_flag("FORCE_EXTRACT")
        self.compile_pyc = env_flag("COMPILE_PYC", baked["compile_pyc"])
        self.compile_workers = env_number(int, "COMPILE_WORKERS", 0)
        self.extend_pythonpath = env_flag("EXTEND_PYTHONPATH", baked["extend_pythonpath"])
        self.prepend_pythonpath = env_value("PREPEND_PYTHONPATH")
        self.lock_timeout = env_number(float, "LOCK_TIMEOUT", 600)


def env_number(kind, name, default):
    """A variable converted by `kind` (int, float); `default` when unset or not a number."""
    try:
        return kind(env_value(name) or default)
    except ValueError:
        return default


# Running


def start(baked, stub, extraction):
    """Run the app; called by the stub with the extraction it found (LOCK_SH held), or None.

    `stub` is the `__main__` module, whose functions find and lock extractions.
    """
    global boot
    boot = stub
    try:
        if not native_fits(baked["native"]):
            raise Fatal(native_mismatch(baked["native"]))
        settings = Settings(baked)
        site_packages = prepare(baked, settings, extraction)
        entry_point, script = choose_entry(baked, settings, site_packages)
    except Fatal as error:
        raise SystemExit("rshiv: error: %s" % error)
    except KeyboardInterrupt:
        raise SystemExit(130)
    except OSError as error:
        where = "%s: " % error.filename if error.filename else ""
        raise SystemExit("rshiv: error: %s%s" % (where, error.strerror or error))
    clear_entry_vars()
    run_preamble(baked, site_packages)
    if settings.interpreter:
        interact(sys.argv[1:])
    else:
        dispatch(site_packages, entry_point, script)


def prepare(baked, settings, extraction):
    """Unpack if needed, check --no-modify, set sys.path and PYTHONPATH; return site-packages."""
    if extraction is None or settings.force_extract:
        extraction = obtain(baked, settings)
    else:
        touch_markers()
        if __file__.startswith(boot.archive_path() + os.sep):
            cache_runtime(extraction)
        elif not os.path.exists(__spec__.cached):
            compile_runtime(__file__)
    site_packages = os.path.join(extraction, "site-packages")
    if baked["no_modify"]:
        check_sources(extraction, boot.archive_path())
    added = setup_path(site_packages, baked)
    if settings.prepend_pythonpath:
        sys.path.insert(0, settings.prepend_pythonpath)
        added.insert(0, settings.prepend_pythonpath)
    if settings.extend_pythonpath:
        extend_pythonpath(added)
    return site_packages


def touch_markers():
    """Record the last use in the markers' mtime, at most once a minute."""
    now = time.time()
    for _, marker, mtime in boot.HELD:
        if now - mtime > 60:
            try:
                os.utime(marker)
            except OSError:
                pass  # a read-only cache still runs


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


def glibc_version():
    """The running glibc's (major, minor), or None when the C library is not glibc."""
    try:
        _, version = os.confstr("CS_GNU_LIBC_VERSION").split()
        return tuple(int(part) for part in version.split(".")[:2])
    except (AttributeError, ValueError, OSError):
        return None


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

    Its `.pth` files (names baked at build time, so no listdir) are processed as
    `site.addsitedir` would, and what they add goes there too. Returns the entries added.
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
    """Append `paths` to PYTHONPATH for child processes, without duplicates (shiv's -E)."""
    current = os.environ.get("PYTHONPATH")
    entries = current.split(os.pathsep) if current else []
    entries += [path for path in paths if path not in entries]
    os.environ["PYTHONPATH"] = os.pathsep.join(entries)


def dispatch(site_packages, entry_point, script):
    """Run the entry point or the script; a script that ends normally exits 0 (shiv #240).

    With neither, behave like `python` (shiv drops into its interpreter too).
    """
    if entry_point:
        entry_point = plain_entry(entry_point)
    if entry_point and ":" in entry_point:
        call_entry(entry_point)
    elif entry_point:
        run_module(entry_point)
    elif script:
        run_script(os.path.join(site_packages, script))
    else:
        interact(sys.argv[1:])


def plain_entry(value):
    """`module:attr` without the spaces and `[extras]` an entry point value may have."""
    module, _, attr = value.partition("[")[0].partition(":")
    return module.strip() + (":" + attr.strip() if attr.strip() else "")


def call_entry(spec):
    """`module:attr` (attr may be dotted): import, call, exit with what it returns."""
    module_name, _, attrs = spec.partition(":")
    try:
        __import__(module_name)
    except ModuleNotFoundError as error:
        if not names_module(error, module_name):
            raise
        raise SystemExit(missing_entry(spec, error))
    target = sys.modules[module_name]
    try:
        for attr in attrs.split("."):
            target = getattr(target, attr)
    except AttributeError as error:
        raise SystemExit(missing_entry(spec, error))
    sys.exit(target())


def names_module(error, module):
    """Whether a ModuleNotFoundError is about `module` or a parent, not an import inside them."""
    missing = error.name
    return missing is not None and (module == missing or module.startswith(missing + "."))


def missing_entry(spec, reason):
    """The one-line error for an entry point that does not exist."""
    return "rshiv: error: entry point %r not found: %s" % (spec, reason)


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
        raise SystemExit(missing_entry(name, "no module named %r (or it has no __main__)" % name))
    runpy.run_module(name, run_name="__main__", alter_sys=True)


def run_script(path):
    """Run a file as `__main__`, leaving sys.argv[0] as it is (the pyz: shiv #179)."""
    try:
        with open(path, "rb") as source:
            code = source.read()
    except OSError as error:
        raise SystemExit("rshiv: error: cannot run script %s: %s" % (path, error.strerror))
    exec_as_main(code, path)


def exec_as_main(source, filename):
    """Execute source code in a fresh `__main__` module, as the interpreter runs a script."""
    main = type(sys)("__main__")
    main.__file__ = filename
    sys.modules["__main__"] = main
    exec(compile(source, filename, "exec"), main.__dict__)


def choose_entry(baked, settings, site_packages):
    """(entry point, script): SHIV_CONSOLE_SCRIPT, SHIV_ENTRY_POINT, a symlink, the build's."""
    if settings.console_script:
        return console_script(baked, settings.console_script, site_packages)
    if settings.entry_point:
        return settings.entry_point, None
    return linked_entry(baked) or baked["entry_point"], baked["script"]


def linked_entry(baked):
    """The console script named like sys.argv[0] when the pyz was run through such a symlink."""
    invoked = sys.argv[0]
    target = baked["console_scripts"].get(os.path.basename(invoked))
    if target and os.path.islink(invoked):
        return target
    return None


def console_script(baked, name, site_packages):
    """A console script of the payload by name, else its `bin/<name>` script."""
    if name in baked["console_scripts"]:
        return baked["console_scripts"][name], None
    script = "bin/" + name
    if os.path.isfile(os.path.join(site_packages, script)):
        return None, script
    known = ", ".join(sorted(baked["console_scripts"])) or "none"
    raise Fatal("console script %r not found (this app has: %s)" % (name, known))


def clear_entry_vars():
    """Keep the entry-point variables from child processes (they would run the wrong thing)."""
    for prefix in ("RSHIV_", "SHIV_"):
        for name in ENTRY_VARS:
            os.environ.pop(prefix + name, None)


def run_preamble(baked, site_packages):
    """Run --preamble: a .py in this process (shiv's globals), anything else as a command.

    Unlike shiv, a command that fails stops the app: exit 1 with one line naming it.
    """
    if not baked["preamble"]:
        return
    path = os.path.join(site_packages, baked["preamble"])
    if path.endswith(".py"):
        import pathlib
        import runpy
        import types

        env = types.SimpleNamespace(**baked)
        init = {
            "archive": boot.archive_path(),
            "env": env,
            "site_packages": pathlib.Path(site_packages),
        }
        runpy.run_path(path, init_globals=init, run_name="__main__")
        return
    import subprocess

    try:
        code = subprocess.call([path])
    except OSError as error:
        raise SystemExit("rshiv: error: cannot run preamble %s: %s" % (path, error.strerror))
    if code != 0:
        raise SystemExit("rshiv: error: preamble %s failed with exit status %d" % (path, code))


def interact(args):
    """SHIV_INTERPRETER: behave like `python` with these arguments, or start a REPL."""
    if not args:
        import code

        try:
            import readline  # noqa: F401 (line editing in the REPL)
        except ImportError:
            pass
        code.interact(exitmsg="")
    elif args[0] == "-c" and len(args) > 1:
        sys.argv = ["-c"] + args[2:]
        exec_as_main(args[1], "<string>")
    elif args[0] == "-m" and len(args) > 1:
        sys.argv = args[1:]
        run_module(args[1])
    elif args[0] == "-":
        sys.argv = args
        exec_as_main(sys.stdin.read(), "<stdin>")
    elif args[0] in ("-c", "-m"):
        raise SystemExit("rshiv: error: argument expected for the %s option" % args[0])
    else:
        sys.argv = args
        run_script(args[0])


def native_mismatch(native):
    """One line saying what the payload's extensions need and what is running."""
    import platform

    wanted = "CPython %d.%d" % tuple(native["python"]) if native["python"] else "CPython"
    if native["abi3"] and not native["python"]:
        wanted = "CPython %d.%d or newer" % tuple(native["abi3"])
    where = " ".join(part for part in (native["platform"], "/".join(native["machines"])) if part)
    if native["libc"]:
        wanted_libc = native["libc"]
        if native["libc_min"]:
            wanted_libc += " %d.%d" % tuple(native["libc_min"])
        where += " with " + wanted_libc + (" or newer" if native["libc_min"] else "")
    running = "%s %d.%d on %s %s" % (
        platform.python_implementation(),
        sys.version_info[0],
        sys.version_info[1],
        sys.platform,
        os.uname().machine,
    )
    libc, version = platform.libc_ver()
    if sys.platform == "linux":
        running += " with " + (
            "%s %s" % (libc, version) if libc else "a C library other than glibc"
        )
    return "this app contains compiled extensions for %s on %s (%s); this is %s" % (
        wanted,
        where,
        ", ".join(native["tags"][:3]),
        running,
    )


# The extraction protocol


def obtain(baked, settings):
    """Unpack the payload (the stub found no extraction, or SHIV_FORCE_EXTRACT); return it.

    A forced run first lets go of the tree it found, so the old one can be removed.
    """
    for fd, _, _ in boot.HELD:
        os.close(fd)
    del boot.HELD[:]
    root = boot.cache_root(baked)
    try:
        return unpack_into(root, baked, settings)
    except Unwritable as error:
        reason = str(error)
    fallback = private_fallback(boot.fallback_root(), root, reason)
    warn("cannot write to %s (%s); using %s instead" % (root, reason, fallback))
    try:
        return unpack_into(fallback, baked, settings)
    except Unwritable as error:
        raise Fatal("cannot write to %s (%s) nor to %s (%s)" % (root, reason, fallback, error))


def warn(message):
    """One `rshiv: warning:` line on stderr."""
    sys.stderr.write("rshiv: warning: %s\n" % message)
    sys.stderr.flush()


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
    if not boot.is_private_dir(path):
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
    stem = os.path.basename(boot.extraction_dir(root, baked))
    lock = Lock(os.path.join(root, "." + stem + ".lock"))

    def published():
        return None if settings.force_extract else boot.open_extraction(root, baked)

    found = lock.wait(settings.lock_timeout, published)
    if found:
        return found
    try:
        found = published()
        if found:
            return found
        if lock.held:
            remove_leftovers(root, stem)
        final = boot.extraction_dir(root, baked)
        build(root, final, stem, baked, settings)
        found = boot.open_extraction(root, baked)
        if found is None:
            raise Fatal("%s vanished right after unpacking" % final)
    finally:
        lock.release()
    if baked["prune_old_builds"]:
        prune_old_builds(root, baked["name"], stem)
    return found


class Lock:
    """The extraction lock `<root>/.<name>_<id>.lock` (flock LOCK_EX)."""

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
    tmp_prefix, trash_prefix = "." + stem + ".tmp-", ".trash-" + stem + "-"
    for entry in os.scandir(root):
        if entry.name.startswith(tmp_prefix):
            remove_tree(entry.path)
        elif entry.name.startswith(trash_prefix):
            remove_if_unused(entry.path)


def remove_if_unused(path):
    """rmtree `path` unless a process holds a lock on its marker."""
    import fcntl

    try:
        fd = os.open(os.path.join(path, boot.MARKER), os.O_RDONLY | os.O_CLOEXEC)
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


def trash_name(root, stem):
    """A fresh `.trash-<name>_<id>-<pid>-<random>` path in root."""
    return os.path.join(root, ".trash-%s-%d-%s" % (stem, os.getpid(), os.urandom(4).hex()))


def build(root, final, stem, baked, settings):
    """Unpack into a temp dir, check it, mark it complete and rename it into place."""
    tmp = os.path.join(root, ".%s.tmp-%d-%s" % (stem, os.getpid(), os.urandom(4).hex()))
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
    try:
        entries = unpack_payload(boot.archive_path(), site_packages)
    finally:
        if status:
            status.cancel()
    if settings.compile_pyc:
        compile_tree(site_packages, os.path.join(final, "site-packages"), settings.compile_workers)
    if baked["no_modify"]:
        record_sources(tmp, site_packages, entries)
    cache_runtime(tmp)
    marker = "rshiv-1\nname=%s\nbuild_id=%s\nfiles=%d\nunpacked_bytes=%d\n" % (
        baked["name"],
        baked["build_id"],
        len(entries),
        sum(entry[4] for entry in entries),
    )
    write_file(os.path.join(tmp, boot.MARKER), marker.encode())


def cache_runtime(extraction):
    """Keep a copy of this runtime, compiled, in the extraction: warm starts load its bytecode.

    Named by its CRC-32, which the stub reads from zipimport's table of the pyz, so pyz files
    of other rshiv versions sharing this payload each find their own copy.
    """
    import zlib

    source = __loader__.get_data(__file__)
    folder = os.path.join(extraction, ".rshiv")
    path = os.path.join(folder, "runtime-%08x.py" % zlib.crc32(source))
    if os.path.exists(path):
        return
    partial = "%s.%d-%s.tmp" % (path, os.getpid(), os.urandom(4).hex())
    try:
        os.makedirs(folder, exist_ok=True)
        write_file(partial, source)
        os.rename(partial, path)
    except OSError:
        if os.path.exists(partial):
            os.unlink(partial)
        return  # a read-only or full cache: warm starts then compile the runtime from the pyz
    compile_runtime(path)


def compile_runtime(path):
    """Write the bytecode of the runtime copy at `path` for this interpreter.

    Done even under PYTHONDONTWRITEBYTECODE (that is about the user's code; this cache is
    ours), and by each Python version that runs from a tree another one unpacked.
    """
    import py_compile

    try:
        py_compile.compile(path, doraise=True)
    except (OSError, py_compile.PyCompileError):
        pass  # a read-only cache: warm starts then compile the copy from source


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


def write_file(path, data):
    """Create `path` (it must not exist) holding `data`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def write_all(fd, data):
    """os.write until all of `data` is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def publish(tmp, final, root, stem, force):
    """Rename the complete temp dir to its final name (POSIX rename: atomic).

    An existing tree goes to the trash first when forced (SHIV_FORCE_EXTRACT) or incomplete,
    and is removed only when no process holds its marker. A complete one found otherwise
    (a race lost where flock does not work) is kept, and our copy dropped.
    """
    marker = os.path.join(final, boot.MARKER)
    trash = None
    if os.path.lexists(final):
        if not force and os.path.exists(marker):
            remove_tree(tmp)
            return
        trash = trash_name(root, stem)
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
        with open(os.path.join(path, boot.MARKER), "rb") as marker:
            return ("\nname=%s\n" % name).encode() in marker.read(4096)
    except OSError:
        return False


def remove_extraction(root, stem):
    """Take the extraction lock and the marker exclusively, rename to trash, then rmtree."""
    import fcntl

    path = os.path.join(root, stem)
    try:
        lock = os.open(os.path.join(root, "." + stem + ".lock"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        marker = os.open(os.path.join(path, boot.MARKER), os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
            trash = trash_name(root, stem)
            os.rename(path, trash)
        finally:
            os.close(marker)
    except OSError:
        return
    finally:
        os.close(lock)
    remove_tree(trash)


# Reading the payload


def read_central_directory(fd, start, size):
    """(base, entries) of the zip in bytes [start, start + size) of `fd`.

    `base` is where the zip's offset 0 lies in the file (data may precede a zip, like the
    shebang). Each entry is (name, method, crc, compressed size, size, header offset, mode).
    """
    import struct

    tail_size = min(size, END_SIZE + 0xFFFF)
    tail_start = start + size - tail_size
    tail = os.pread(fd, tail_size, tail_start)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0:
        raise Fatal("the archive is damaged: no end of central directory")
    _, _, _, _, count, cd_size, cd_offset, _ = struct.unpack_from(END, tail, at)
    end_at = tail_start + at
    if count == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_offset):
        end_at = end_at - END64_LOCATOR_SIZE - END64_SIZE
        record = os.pread(fd, END64_SIZE, end_at)
        if len(record) < END64_SIZE or record[:4] != b"PK\x06\x06":
            raise Fatal("the archive is damaged: bad ZIP64 end of central directory")
        _, _, _, _, _, _, _, count, cd_size, cd_offset = struct.unpack(END64, record)
    base = end_at - cd_size - cd_offset
    directory = os.pread(fd, cd_size, end_at - cd_size)
    return base, list(parse_entries(directory, count))


def parse_entries(directory, count):
    """Yield the central directory's entries (see read_central_directory)."""
    import struct

    at = 0
    for _ in range(count):
        fields = struct.unpack_from(CENTRAL, directory, at)
        if fields[0] != b"PK\x01\x02":
            raise Fatal("the archive is damaged: bad central directory")
        method, crc, csize, size = fields[4], fields[7], fields[8], fields[9]
        name_len, extra_len, comment_len = fields[10], fields[11], fields[12]
        offset, mode = fields[16], fields[15] >> 16
        name_at = at + CENTRAL_SIZE
        name = directory[name_at : name_at + name_len].decode("utf-8", "surrogateescape")
        if 0xFFFFFFFF in (csize, size, offset):
            extra = directory[name_at + name_len : name_at + name_len + extra_len]
            size, csize, offset = zip64_sizes(extra, size, csize, offset)
        at = name_at + name_len + extra_len + comment_len
        yield name, method, crc, csize, size, offset, 0o755 if mode & 0o111 else 0o644


def zip64_sizes(extra, size, csize, offset):
    """The ZIP64 extended information field (APPNOTE 4.5.3) replaces the saturated values."""
    import struct

    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 1:
            values = list(struct.unpack_from("<%dQ" % (length // 8), extra, at + 4))
            if size == 0xFFFFFFFF:
                size = values.pop(0)
            if csize == 0xFFFFFFFF:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF:
                offset = values.pop(0)
            return size, csize, offset
        at += 4 + length
    raise Fatal("the archive is damaged: missing ZIP64 sizes")


def data_start(fd, header_at):
    """Where an entry's data begins, from its local header at `header_at`."""
    import struct

    header = os.pread(fd, LOCAL_SIZE, header_at)
    if len(header) < LOCAL_SIZE or header[:4] != b"PK\x03\x04":
        raise Fatal("the archive is damaged: bad local header at %d" % header_at)
    name_len, extra_len = struct.unpack_from("<HH", header, 26)
    return header_at + LOCAL_SIZE + name_len + extra_len


def locate_payload(fd, archive):
    """(start, size) of the stored `_rshiv/payload.zip` in the pyz."""
    base, entries = read_central_directory(fd, 0, os.fstat(fd).st_size)
    for name, method, _, csize, _, offset, _ in entries:
        if name == PAYLOAD:
            if method != 0:
                raise Fatal("%s: %s must be stored, not compressed" % (archive, PAYLOAD))
            return data_start(fd, base + offset), csize
    raise Fatal("%s is not an rshiv app: no %s" % (archive, PAYLOAD))


def unpack_payload(archive, site_packages):
    """Unpack the payload into `site_packages`, checking sizes and CRCs; return its entries."""
    try:
        fd = os.open(archive, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise Fatal("cannot read %s: %s" % (archive, error.strerror))
    try:
        start, size = locate_payload(fd, archive)
        base, entries = read_central_directory(fd, start, size)
        make_dirs(site_packages, entries)
        Unpacker(fd, base, site_packages).run(entries)
    finally:
        os.close(fd)
    return entries


def safe_name(name):
    """Whether a payload path stays inside site-packages (no absolute path, `..` or NUL)."""
    parts = name.split("/")
    return not name.startswith("/") and "\0" not in name and ".." not in parts and "" not in parts


def make_dirs(site_packages, entries):
    """Create every directory the entries need, parents first."""
    dirs = set()
    for entry in entries:
        if not safe_name(entry[0]):
            raise Fatal("the payload holds an unsafe path: %r" % entry[0])
        parent = entry[0].rpartition("/")[0]
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = parent.rpartition("/")[0]
    for directory in sorted(dirs):
        os.mkdir(os.path.join(site_packages, directory))


def worker_count():
    """Threads to unpack with: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


class Unpacker:
    """Inflates entries in parallel threads, each file with its own descriptor."""

    def __init__(self, fd, base, site_packages):
        """Read entries from the zip at `base` in `fd`, write under `site_packages`."""
        self.fd = fd
        self.base = base
        self.site_packages = site_packages
        self.errors = []

    def run(self, entries):
        """Unpack every entry, biggest first so threads finish together; raise the first error."""
        import threading

        self.queue = iter(sorted(entries, key=lambda entry: entry[3], reverse=True))
        threads = [
            threading.Thread(target=self.work) for _ in range(min(worker_count(), len(entries)) - 1)
        ]
        for thread in threads:
            thread.start()
        self.work()
        for thread in threads:
            thread.join()
        if self.errors:
            raise self.errors[0]

    def work(self):
        """Take entries from the shared queue until it is empty or a thread failed."""
        for entry in self.queue:
            if self.errors:
                return
            try:
                self.unpack(entry)
            except BaseException as error:
                self.errors.append(error)
                return

    def unpack(self, entry):
        """Write one file, checking its size and CRC-32."""
        name, method, crc, csize, size, offset, mode = entry
        if method not in (0, 8):
            raise Fatal(
                "the payload's %s uses compression method %d, which rshiv does not write"
                % (name, method)
            )
        start = data_start(self.fd, self.base + offset)
        path = os.path.join(self.site_packages, name)
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            if size <= WHOLE_FILE_MAX:
                written, check = self.whole(out, method, start, csize, size)
            else:
                written, check = self.pieces(out, method, start, csize)
        finally:
            os.close(out)
        if written != size or check != crc:
            raise Fatal("the payload is damaged: %s fails its size or CRC check" % name)

    def whole(self, out, method, start, csize, size):
        """Inflate a small file in one call; return (size, crc)."""
        import zlib

        data = os.pread(self.fd, csize, start)
        if method == 8:
            data = zlib.decompress(data, -15, size or 1)
        write_all(out, data)
        return len(data), zlib.crc32(data)

    def pieces(self, out, method, start, csize):
        """Inflate a big file piece by piece, bounding memory; return (size, crc)."""
        import zlib

        inflater = zlib.decompressobj(-15) if method == 8 else None
        written, check, at, end = 0, 0, start, start + csize
        while at < end:
            data = os.pread(self.fd, min(READ_PIECE, end - at), at)
            if not data:
                break
            at += len(data)
            while data:
                if inflater is None:
                    piece, data = data, b""
                else:
                    piece = inflater.decompress(data, WHOLE_FILE_MAX)
                    data = inflater.unconsumed_tail
                write_all(out, piece)
                written += len(piece)
                check = zlib.crc32(piece, check)
        return written, check


# --compile-pyc


def compile_tree(site_packages, final_site_packages, workers):
    """compileall the tree in a child interpreter (it uses processes); show its errors on stderr."""
    import subprocess

    command = [sys.executable, "-I", "-m", "compileall", "-q", "-j", str(workers)]
    command += ["-d", final_site_packages, site_packages]
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as error:
        warn("cannot compile the payload with %s: %s" % (sys.executable, error.strerror))
        return
    if result.stdout:
        sys.stderr.write(result.stdout.decode("utf-8", "replace"))
        sys.stderr.flush()


# --no-modify


def record_sources(tmp, site_packages, entries):
    """Record the size, mtime and ctime of every extracted .py, to spot changes cheaply."""
    lines = []
    for entry in entries:
        if entry[0].endswith(".py"):
            info = os.stat(os.path.join(site_packages, entry[0]))
            lines.append(
                "%d %d %d %s\n" % (info.st_size, info.st_mtime_ns, info.st_ctime_ns, entry[0])
            )
    write_file(os.path.join(tmp, SOURCES), "".join(lines).encode("utf-8", "surrogateescape"))


def check_sources(extraction, archive):
    """Refuse to run when an extracted .py was deleted, or changed from the build's hash."""
    site_packages = os.path.join(extraction, "site-packages")
    try:
        with open(os.path.join(extraction, SOURCES), "rb") as recorded:
            lines = recorded.read().decode("utf-8", "surrogateescape").splitlines()
    except OSError as error:
        raise Fatal("cannot check sources (--no-modify): %s: %s" % (error.filename, error.strerror))
    changed = []
    for line in lines:
        size, mtime, ctime, name = line.split(" ", 3)
        path = os.path.join(site_packages, name)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise Fatal(
                "%s was deleted after unpacking (--no-modify); SHIV_FORCE_EXTRACT=1 restores it"
                % path
            )
        if (info.st_size, info.st_mtime_ns, info.st_ctime_ns) != (
            int(size),
            int(mtime),
            int(ctime),
        ):
            changed.append(name)
    if changed:
        check_hashes(site_packages, changed, build_hashes(archive))


def build_hashes(archive):
    """The sha256 of every .py at build time, from the pyz's environment.json."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(archive) as pyz:
            return json.loads(pyz.read("environment.json").decode("utf-8"))["hashes"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise Fatal("cannot read the build's hashes from %s: %s" % (archive, error))


def check_hashes(site_packages, names, hashes):
    """Fail on the first file whose sha256 differs from the build's."""
    import hashlib

    for name in names:
        path = os.path.join(site_packages, name)
        with open(path, "rb") as source:
            digest = hashlib.sha256(source.read()).hexdigest()
        if digest != hashes.get(name):
            raise Fatal(
                "%s was modified after unpacking (--no-modify); SHIV_FORCE_EXTRACT=1 restores it"
                % path
            )
