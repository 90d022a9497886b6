"""Build one project into a wheel by calling its PEP 517 backend, in one process.

Run by rshiv with a reused build environment's interpreter and the project directory as
the working directory (PEP 517: "the source tree is the current working directory"):

    python -I pep517_hooks.py BACKEND BACKEND_PATH_JSON WHEEL_DIR RESULT_FILE MODE

With MODE ``check``, it calls ``get_requires_for_build_wheel``; when every requirement it
returns is installed, it calls ``build_wheel`` in the same process and writes
``{"wheel": NAME}`` to RESULT_FILE; otherwise it writes ``{"missing": [...]}`` so that rshiv
can make an environment that has them, and run it again with MODE ``build``, which builds
without asking (as pip does once it has installed what the hook returned: a requirement
whose marker excludes this interpreter is never installed, and only names are compared). The backend's own output goes to stderr: stdout is not ours to read. A backend that
raises ends with its exception's last line (the whole traceback with RSHIV_HOOKS_TRACEBACK=1,
which `rshiv -v` sets) and exit status 1.
"""

import importlib
import json
import os
import re
import sys
import traceback
from importlib import metadata

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def load_backend(spec, backend_path):
    """Import ``module:object`` (PEP 517 "build-backend"), backend-path entries first."""
    for entry in reversed(backend_path):
        sys.path.insert(0, os.path.abspath(entry))
    module_name, _, attribute = spec.partition(":")
    backend = importlib.import_module(module_name.strip())
    for part in attribute.strip().split(".") if attribute.strip() else ():
        backend = getattr(backend, part)
    return backend


def missing(requirements):
    """The requirements whose distribution is not installed (versions are not compared)."""
    absent = []
    for requirement in requirements:
        match = NAME.match(requirement)
        if not match:
            absent.append(requirement)
            continue
        try:
            metadata.distribution(match.group(1))
        except metadata.PackageNotFoundError:
            absent.append(requirement)
    return absent


def main(spec, backend_path_json, wheel_dir, result_file, mode):
    """Run the hooks and write the result file."""
    sys.stdout = sys.stderr
    # `-I` keeps PYTHONPATH and the user's site-packages out of the build; the wish not to
    # write bytecode into the project's tree is still the user's.
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        sys.dont_write_bytecode = True
    backend = load_backend(spec, json.loads(backend_path_json))
    hook = getattr(backend, "get_requires_for_build_wheel", None)
    requires = list(hook(None)) if hook and mode == "check" else []
    absent = missing(requires)
    if absent:
        result = {"missing": absent}
    else:
        result = {"wheel": backend.build_wheel(wheel_dir, None, None)}
    with open(result_file, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    try:
        main(*sys.argv[1:6])
    except Exception as error:  # noqa: BLE001 - any failure of the backend's, told in a line
        if os.environ.get("RSHIV_HOOKS_TRACEBACK") == "1":
            traceback.print_exc()
        sys.stderr.write("".join(traceback.format_exception_only(type(error), error)))
        sys.exit(1)
