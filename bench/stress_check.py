"""Checks for bench/stress_first_run.sh: what an rshiv cache root must look like.

    stress_check.py facts PYZ          print `<name> <build id> <files>` of an rshiv pyz
    stress_check.py root PYZ ROOT      check ROOT after first runs of PYZ (exit 1 if wrong)

The layout is the extraction protocol of BRIEF-COMMON.md and src/archive/mod.rs: one
published `<root>/<name>_<id>/` holding `site-packages/` (the payload) and `.rshiv-ready`;
`.<name>_<id>.lock` may stay; `.tmp-*` and `.trash-*` dirs must not. Stdlib only.
"""

import io
import json
import os
import sys
import zipfile
import zlib

PAYLOAD = "_rshiv/payload.zip"
MARKER = ".rshiv-ready"


def environment(pyz):
    """environment.json of the pyz (zipfile skips the shebang line before the zip)."""
    with zipfile.ZipFile(pyz) as outer:
        return json.loads(outer.read("environment.json"))


def payload_listing(pyz):
    """{payload path: (size, crc32)} of the inner archive."""
    with zipfile.ZipFile(pyz) as outer:
        payload = outer.read(PAYLOAD)
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        return {i.filename: (i.file_size, i.CRC) for i in inner.infolist() if not i.is_dir()}


def crc32(path):
    """CRC-32 of a file's contents, read in chunks."""
    crc = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            crc = zlib.crc32(chunk, crc)
    return crc


def extracted_files(site_packages):
    """Payload-relative paths of the files under site-packages, minus bytecode caches."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(site_packages):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for filename in filenames:
            if not filename.endswith(".pyc"):
                full = os.path.join(dirpath, filename)
                found.add(os.path.relpath(full, site_packages).replace(os.sep, "/"))
    return found


def check_root(pyz, root):
    """Return the list of problems with root after first runs of pyz (empty when fine)."""
    env = environment(pyz)
    extraction = f"{env['name']}_{env['build_id']}"
    entries = sorted(os.listdir(root))
    problems = []
    visible = [e for e in entries if not e.startswith(".")]
    if visible != [extraction]:
        problems.append(f"expected exactly one extraction {extraction}, found {visible}")
    leftovers = [e for e in entries if ".tmp-" in e or e.startswith(".trash-")]
    if leftovers:
        problems.append(f"leftovers in {root}: {leftovers}")
    tree = os.path.join(root, extraction)
    if not os.path.isfile(os.path.join(tree, MARKER)):
        problems.append(f"no {MARKER} in {tree}")
        return problems
    site_packages = os.path.join(tree, "site-packages")
    listing = payload_listing(pyz)
    found = extracted_files(site_packages)
    missing = sorted(set(listing) - found)
    extra = sorted(found - set(listing))
    if missing:
        problems.append(f"{len(missing)} payload files missing, first {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} files not in the payload, first {extra[:3]}")
    for name in sorted(set(listing) & found):
        path = os.path.join(site_packages, name)
        size, crc = listing[name]
        if os.path.getsize(path) != size or crc32(path) != crc:
            problems.append(f"{path} differs from the payload (size or CRC)")
    return problems


def main(argv):
    """Dispatch the two commands."""
    if len(argv) == 2 and argv[0] == "facts":
        env = environment(argv[1])
        print(env["name"], env["build_id"], len(payload_listing(argv[1])))
        return 0
    if len(argv) == 3 and argv[0] == "root":
        problems = check_root(argv[1], argv[2])
        for problem in problems:
            print(f"FAIL: {problem}", file=sys.stderr)
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
