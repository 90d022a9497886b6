"""Say which interpreter runs this pyz and which of its targets it got, and prove that each
compiled dependency loaded its C extension rather than a pure-Python fallback."""

import json
import os
import sys
from importlib.metadata import version


def extraction():
    """The extraction this run uses, `<name>_<build id>`: each target of the pyz has its own
    (the build id a single-target build of that target would get)."""
    import fleet

    site_packages = os.path.dirname(os.path.dirname(os.path.abspath(fleet.__file__)))
    return os.path.basename(os.path.dirname(site_packages))


def compiled():
    """(module, distribution version, extension file) of each compiled extension."""
    import markupsafe._speedups
    import msgpack
    import msgpack._cmsgpack
    import yaml
    import yaml._yaml

    if not yaml.__with_libyaml__:
        raise SystemExit("fleet: yaml was built without libyaml")
    if msgpack.Packer is not msgpack._cmsgpack.Packer:
        raise SystemExit("fleet: msgpack fell back to its pure-Python Packer")
    return [
        ("markupsafe._speedups", version("markupsafe"), markupsafe._speedups.__file__),
        ("yaml._yaml", version("pyyaml"), yaml._yaml.__file__),
        ("msgpack._cmsgpack", version("msgpack"), msgpack._cmsgpack.__file__),
    ]


def main():
    """Print the report; `fleet --json` prints it as one JSON object (for tests)."""
    report = {
        "python": "%d.%d.%d" % sys.version_info[:3],
        "extraction": extraction(),
        "modules": [
            {"module": name, "version": release, "file": os.path.basename(path)}
            for name, release, path in compiled()
        ],
    }
    if sys.argv[1:] == ["--json"]:
        print(json.dumps(report))
        return
    name, _, build_id = report["extraction"].rpartition("_")
    print("CPython %s: target %s_%s" % (report["python"], name, build_id[:12]))
    for module in report["modules"]:
        print("  %-21s %-7s %s" % (module["module"], module["version"], module["file"]))
