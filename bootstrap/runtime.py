"""rshiv's runtime, stored in every pyz as `_rshiv/runtime.py`: everything after the stub.

The stub (`__main__.py`) finds the extraction and calls `start`: check the payload's native
needs, read the SHIV_*/RSHIV_* variables, unpack on a first run (`extract`, which reads the
payload with `unpack`), set sys.path, run the preamble and the entry point. Warm starts load
this module from a bytecode-cached copy in the extraction (see `cache_runtime`), so its size
costs them nothing; `extract` and `unpack` are imported only by first runs.
"""

import os
import sys
import time

SOURCES = ".rshiv-sources"
ENVIRONMENT = "environment.json"
# The first runs' bootstrap modules, run from the pyz (names of src/archive/bootstrap.rs).
EXTRACT = "_rshiv/extract.py"
UNPACK = "_rshiv/unpack.py"
TRUE_WORDS = ("yes", "true", "t", "1")
ENTRY_VARS = ("ENTRY_POINT", "MODULE", "CONSOLE_SCRIPT", "INTERPRETER")


class Fatal(Exception):
    """An error the user can act on: printed as one `rshiv: error:` line, exit 1."""


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
        native = baked["native"]
        if native and not bootstrap_module(extraction, boot.TARGET).native_fits(native):
            raise Fatal(unsupported(baked) if "targets" in baked else native_mismatch(native))
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


# CPython 3.11 to 3.14 keep frames in chunks of 16 KiB, mapped when a call does not fit in
# the current one and unmapped when the chunk's first frame returns. Until the fix of
# gh-142183 (3.14, late 3.13 releases), an app whose imports keep crossing a chunk's end maps
# and unmaps one each time: how often depends on how deep the app starts (simple_api: 1,400
# times from the pyz, 400 from a venv's console script, about 6 ms). `start` reserves stack
# slots it never uses, so its call gets a chunk of 1 MiB (touched only as used) whose other
# half the app's frames fill before they reach a chunk's end.
FRAME_ROOM = 1 << 16
if sys.implementation.name == "cpython" and (3, 11) <= sys.version_info[:2] <= (3, 14):
    start.__code__ = start.__code__.replace(co_stacksize=FRAME_ROOM)


def prepare(baked, settings, extraction):
    """Unpack if needed, check --no-modify, set sys.path and PYTHONPATH; return site-packages."""
    if extraction is None or settings.force_extract:
        boot.pyz_module(UNPACK)  # before extract, which imports it
        extraction = boot.pyz_module(EXTRACT).obtain(baked, settings)
    else:
        warn_refused(os.path.dirname(extraction))
        touch_markers()
        if __file__.startswith(boot.archive_path() + os.sep):
            cache_runtime(extraction)
        elif not os.path.exists(__spec__.cached):
            compile_runtime(__file__)
    site_packages = os.path.join(extraction, "site-packages")
    bytecode = bootstrap_module(extraction, boot.BYTECODE)
    bytecode.install(extraction, boot.fallback_root(), boot.is_private_dir)
    if baked["no_modify"]:
        check_sources(extraction, boot.archive_path(), baked)
    added = setup_path(site_packages, baked)
    if settings.prepend_pythonpath:
        sys.path.insert(0, settings.prepend_pythonpath)
        added.insert(0, settings.prepend_pythonpath)
    if settings.extend_pythonpath:
        extend_pythonpath(added)
    return site_packages


def warn_refused(used):
    """Say once which cache roots were not used as not trusted, and why."""
    for root, why in boot.REFUSED:
        warn("not using the cache root %s (%s); using %s instead" % (root, why, used))
    del boot.REFUSED[:]


def touch_markers():
    """Record the last use in the markers' mtime (through the descriptor we checked), at
    most once a minute."""
    now = time.time()
    for fd, _, mtime in boot.HELD:
        if now - mtime > 60:
            try:
                os.utime(fd)
            except OSError:
                pass  # a read-only cache still runs


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
    """Put site-packages after the stdlib and before the user's and system's site-packages,
    and take the pyz off the path.

    Its `.pth` files (names baked at build time, so no listdir) are processed as
    `site.addsitedir` would, and what they add goes there too. Returns the entries added.
    """
    import site

    # The pyz itself leaves the path: the payload is in site-packages, and a zip on sys.path
    # makes every importlib.metadata scan (pydantic's plugins, entry points) open it.
    if sys.path and sys.path[0] == boot.archive_path():
        del sys.path[0]
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
        path = os.path.join(site_packages, script)
        if runs_natively(path):
            run_native(path, [os.path.basename(path)] + sys.argv[1:])
        run_script(path)
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


# Native console scripts

# The first bytes of native executables: ELF, Mach-O (32 and 64 bits, either byte order) and
# universal Mach-O.
NATIVE_MAGIC = (
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)
# Python leaves these ignored, and an ignored signal stays ignored across exec.
IGNORED_BY_PYTHON = ("SIGPIPE", "SIGXFSZ")


def runs_natively(path):
    """Whether the `bin/` script at `path` is for the kernel to run rather than this Python.

    By content, as the kernel decides: a native executable (NATIVE_MAGIC), or a `#!` script
    for an interpreter that is not Python (`#!/bin/sh`). A `#!` line naming python runs here,
    on this interpreter with the payload on sys.path; so does the `/bin/sh` trampoline that
    installers write for a long python path (its second line starts `'''exec'`), whose
    python is the build machine's; a file without `#!` runs as Python too, as before.
    """
    try:
        with open(path, "rb") as script:
            head = script.read(512)
    except OSError:
        return False  # run_script reports it
    if head.startswith(NATIVE_MAGIC):
        return True
    if not head.startswith(b"#!"):
        return False
    first, _, rest = head.partition(b"\n")
    return b"python" not in first and not rest.startswith(b"'''exec'")


def run_native(path, args):
    """Replace this process with the native executable at `path` (os.execv).

    The tool then has this process's pid, stdin, stdout and stderr, and its exit status and
    signals are those of a direct run. The LOCK_SH on the extraction's marker is handed over:
    its descriptor is made inheritable, so the lock lives on in the tool (and in children it
    lets inherit the descriptor), and `rshiv cache clean` skips the tree until they exit.
    """
    import signal

    for fd, _, _ in boot.HELD:
        os.set_inheritable(fd, True)
    for name in IGNORED_BY_PYTHON:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass  # a closed or missing stream: nothing of ours is waiting in it
    try:
        os.execv(path, args)
    except OSError as error:
        raise SystemExit("rshiv: error: cannot run %s: %s" % (path, error.strerror))


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


def this_interpreter():
    """`CPython 3.13 on linux x86_64`."""
    import platform

    return "%s %d.%d on %s %s" % (
        platform.python_implementation(),
        sys.version_info[0],
        sys.version_info[1],
        sys.platform,
        os.uname().machine,
    )


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
    running = this_interpreter()
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


def unsupported(baked):
    """`<name> was built for CPython 3.8, 3.13 on manylinux2014_x86_64 and CPython 3.13 on
    manylinux2014_aarch64; this is CPython 3.12 on linux x86_64`: the targets' versions
    grouped per platform, in build order, and, when this Python's version is one of them
    (so the platform is what does not fit), this C library."""
    versions = {}
    for target in baked["targets"]:
        wanted = versions.setdefault(target["platform"], [])
        if "%d.%d" % tuple(target["python"]) not in wanted:
            wanted.append("%d.%d" % tuple(target["python"]))
    groups = ["CPython %s on %s" % (", ".join(wanted), where) for where, wanted in versions.items()]
    built = " and ".join([", ".join(groups[:-1])] + groups[-1:]) if len(groups) > 1 else groups[0]
    running = this_interpreter()
    if sys.platform == "linux" and [sys.version_info[0], sys.version_info[1]] in [
        target["python"] for target in baked["targets"]
    ]:
        glibc = boot.pyz_module(boot.TARGET).glibc_version()
        running += " with " + ("glibc %d.%d" % glibc if glibc else "a C library other than glibc")
    return "%s was built for %s; this is %s" % (baked["name"], built, running)


def warn(message):
    """One `rshiv: warning:` line on stderr."""
    sys.stderr.write("rshiv: warning: %s\n" % message)
    sys.stderr.flush()


def cache_runtime(extraction):
    """Keep copies of this runtime, of `bytecode` and of `target`, compiled, in the
    extraction: warm starts load their bytecode.

    Named by their CRC-32, which the stub reads from zipimport's table of the pyz, so pyz
    files of other rshiv versions sharing this payload each find their own copy.
    """
    for member in (boot.RUNTIME, boot.BYTECODE, boot.TARGET):
        cache_copy(extraction, member)


def cache_copy(extraction, member):
    """Copy the pyz's `member` into the extraction (see cache_runtime) and compile it."""
    import zlib

    source = boot.__loader__.get_data(os.path.join(boot.archive_path(), member))
    path = boot.copy_path(extraction, member, zlib.crc32(source))
    folder = os.path.dirname(path)
    if os.path.lexists(path):
        return
    partial = "%s.%d-%s.tmp" % (path, os.getpid(), os.urandom(4).hex())
    umask = os.umask(0o022)
    try:
        make_dir(folder)
        make_dir(os.path.join(folder, "__pycache__"))
        write_file(partial, source)
        os.rename(partial, path)
        compile_runtime(path)
    except OSError:
        if os.path.lexists(partial):
            os.unlink(partial)
        # a read-only or full cache: warm starts then compile the runtime from the pyz
    finally:
        os.umask(umask)


def make_dir(path):
    """mkdir 0755 (the caller sets umask 022); an existing one must be a trusted directory."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        if not boot.trusted_dir(path):
            raise boot.Untrusted("not a directory of this user or root", path)


def bootstrap_module(extraction, member):
    """The bootstrap module of pyz member `member` (`_rshiv/target.py`): already loaded
    (the stub runs `_rshiv.target` for a multi-target pyz), else the extraction's copy
    (compiled now if its bytecode is missing), else the pyz's."""
    name = member[:-3].replace("/", ".")
    module = sys.modules.get(name)
    if module is None and extraction:
        module = boot.load_copy(extraction, member, name)
        if module is not None and not os.path.exists(module.__spec__.cached):
            compile_runtime(module.__file__)
    return module or boot.pyz_module(member)


def compile_runtime(path):
    """Write the bytecode of the runtime copy at `path` for this interpreter.

    Done even under PYTHONDONTWRITEBYTECODE and beside the copy whatever
    PYTHONPYCACHEPREFIX says (they are about the user's code; this cache is ours), and by
    each Python version that runs from a tree another one unpacked.
    """
    import py_compile

    umask = os.umask(0o022)  # a __pycache__ it makes is 0755 whatever the user's umask
    try:
        boot.without_pycache_prefix(py_compile.compile, path, None, None, True)
    except (OSError, py_compile.PyCompileError):
        pass  # a read-only cache: warm starts then compile the copy from source
    finally:
        os.umask(umask)


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


def check_sources(extraction, archive, baked):
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
        check_hashes(site_packages, changed, build_hashes(archive, baked))


def build_hashes(archive, baked):
    """The sha256 of every .py at build time by its path, from the pyz's environment.json;
    in a multi-target pyz, a path this target reads from a variant (`_rshiv/targets.txt`)
    has the variant's."""
    import json
    import zipfile

    unpack = boot.pyz_module(UNPACK)

    try:
        with zipfile.ZipFile(archive) as pyz:
            hashes = json.loads(pyz.read(ENVIRONMENT).decode("utf-8"))["hashes"]
            if "targets" in baked:
                files = unpack.target_files(pyz.read(unpack.TARGETS), baked["build_id"])
                for path, i in files["variants"].items():
                    hashes[path] = hashes.get(unpack.variant_member(i, path))
            return hashes
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
