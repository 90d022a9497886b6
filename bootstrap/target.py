"""Which build of the payload this interpreter runs, stored as `_rshiv/target.py`.

`native_fits` says whether the interpreter can load a payload's compiled extensions; the
runtime asks it at every start of a payload that has some. A pyz built for several targets
(Python versions and platforms, issue 14) bakes each target's fields in `targets`; when
more than one target has the running Python's version, the stub imports this module from
the pyz, compiling it, to `choose` before it looks for the extraction. So it holds nothing
else and imports nothing beyond os and sys.
"""

import os
import sys


def native_fits(native):
    """Whether this interpreter can load compiled extensions that need `native` (what the
    wheels' PEP 425 tags ask: CPython version, stable-ABI minimum, OS, machine, and glibc
    (PEP 600) or musl (PEP 656) version); None, a pure-Python payload, needs nothing."""
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


def choose(baked):
    """`baked` as the build of the target this interpreter runs; exit 1 with one line when
    none fits.

    A target fits when its Python is this one's version (and this is CPython, if any
    target's extensions need CPython) and its native needs fit; of those, the one with the
    highest C library minimum wins, then the first. Its fields (build id, native, files,
    console scripts, ...) replace the top-level ones in a copy (a first run extracts the
    files of the target of that build id, see `unpack.select`).
    """
    targets = baked["targets"]
    best, best_libc = None, None
    if sys.implementation.name == "cpython" or not any(needs_cpython(t) for t in targets):
        version = list(sys.version_info[:2])
        for index, target in enumerate(targets):
            if target["python"] == version and native_fits(target["native"]):
                libc = target["native"] and target["native"]["libc_min"] or [0, 0]
                if best is None or libc > best_libc:
                    best, best_libc = index, libc
    if best is None:
        from _rshiv import runtime

        raise SystemExit("rshiv: error: %s" % runtime.unsupported(baked))
    return dict(baked, **targets[best])


def needs_cpython(target):
    """Whether the target's extensions are built for CPython's ABI (a version or abi3)."""
    native = target["native"]
    return bool(native and (native["python"] or native["abi3"]))
