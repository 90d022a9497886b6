"""Native executables (`rshiv --python-dist`, issue 16) against the same steps by hand.

    python3 bench/native.py --rshiv target/release/rshiv --archive cpython.tar.gz [--runs 21]

The launcher is `rshiv-launcher` beside --rshiv (or RSHIV_LAUNCHER). The app is
`fixtures/trivial` (`hello:main`, prints hello), built twice from the same sources: as a
native executable, and as a plain pyz. Each figure is the median of --runs runs:

* warm start: `./app` against `<the same unpacked interpreter> -I app.pyz` (what the
  launcher execs), both with their extractions in place; goal: native <= pyz + 3 ms.
* cold start: `./app` in an empty cache root against `tar xf ARCHIVE` + the first
  `python -I app.pyz` run in an empty root, by hand; goal: native <= 1.0x by hand.
* size: the native file against the archive + the pyz + the launcher.

Stdlib only; the cache roots live in a private dir under /dev/shm (else TMPDIR).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "fixtures", "trivial", "src")


def timed(cmd, env, cwd=None):
    """Seconds one run of `cmd` takes; it must succeed and print hello."""
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or b"hello" not in done.stdout:
        sys.exit("bench: %s failed: %s" % (" ".join(cmd), done.stderr.decode(errors="replace")))
    return elapsed


def median_ms(samples):
    """The median of seconds, as milliseconds."""
    return statistics.median(samples) * 1000


def build(rshiv, out, extra, env):
    """`rshiv --site-packages APP -e hello:main -o out EXTRA...`."""
    cmd = [rshiv, "-q", "--site-packages", APP, "-e", "hello:main", "-o", out] + extra
    subprocess.run(cmd, env=env, check=True)


def main(argv=None):
    """Build both, measure, print one markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rshiv", required=True)
    parser.add_argument("--archive", required=True, help="the interpreter archive (.tar.gz/.tar.zst)")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args(argv)
    rshiv = os.path.abspath(args.rshiv)
    archive = os.path.abspath(args.archive)
    launcher = os.environ.get("RSHIV_LAUNCHER") or os.path.join(os.path.dirname(rshiv), "rshiv-launcher")
    parent = "/dev/shm" if os.path.isdir("/dev/shm") else None
    work = tempfile.mkdtemp(prefix="rshiv-native-bench-", dir=parent)
    try:
        env = dict(os.environ, RSHIV_ROOT=os.path.join(work, "root"))
        native, pyz = os.path.join(work, "app"), os.path.join(work, "app.pyz")
        build(rshiv, native, ["--python-dist", archive], env)
        build(rshiv, pyz, [], env)
        decompress = "--zstd" if open(archive, "rb").read(4) == b"\x28\xb5\x2f\xfd" else "-z"

        # Warm: one first run of each puts the extractions in place.
        timed([native], env)
        exe = subprocess.run(
            [native, "-c", "import sys; print(sys.executable)"],
            env=dict(env, SHIV_INTERPRETER="1"), capture_output=True, check=True,
        ).stdout.decode().strip()
        timed([exe, "-I", pyz], env)
        # Interleaved, so that the load of a busy machine falls on both alike.
        warm_native, warm_pyz = [], []
        for _ in range(args.runs):
            warm_native.append(timed([native], env))
            warm_pyz.append(timed([exe, "-I", pyz], env))

        cold_native, cold_hand = [], []
        for i in range(args.runs):
            root = os.path.join(work, "cold-%d" % i)
            cold_native.append(timed([native], dict(env, RSHIV_ROOT=root)))
            shutil.rmtree(root)
            os.mkdir(root)
            python = os.path.join(root, "python", "bin", os.path.basename(exe))
            by_hand = 'tar %s -xf "$1" -C "$2" && "$3" -I "$4"' % decompress
            cmd = ["sh", "-c", by_hand, "sh", archive, root, python, pyz]
            cold_hand.append(timed(cmd, dict(env, RSHIV_ROOT=os.path.join(root, "pyz"))))
            shutil.rmtree(root)

        parts = [os.path.getsize(p) for p in (archive, pyz, launcher)]
        size = os.path.getsize(native)
        wn, wp, cn, ch = map(median_ms, (warm_native, warm_pyz, cold_native, cold_hand))
        print("| figure | native | by hand / pyz | goal | met |")
        print("|---|---|---|---|---|")
        print("| warm start (ms) | %.1f | %.1f | <= +3 ms | %s |" % (wn, wp, "yes" if wn <= wp + 3 else "NO"))
        print("| cold start (ms) | %.1f | %.1f | <= 1.0x | %.2fx |" % (cn, ch, cn / ch))
        print(
            "| size (bytes) | %d | %d + %d + %d = %d | = | %+d |"
            % (size, parts[0], parts[1], parts[2], sum(parts), size - sum(parts))
        )
        print("\nmedians of %d runs; launcher %s (%d bytes)" % (args.runs, launcher, parts[2]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
