"""One pyz for a fleet (issue 14): a 6-target pyz against the single-target pyz of the same app.

    python3 bench/fleet.py --rshiv target/release/rshiv [--app fleet|trivial] [--python PY] [--runs 21]

The app is `examples/fleet` (markupsafe, pyyaml, msgpack: compiled, from the package index)
or bench's `trivial` (pure Python: the 6 targets' trees are one), built twice with the same
options: for CPython 3.8 to 3.13 on manylinux2014_x86_64 in one file, and for PY's version
alone (so its payload is the very tree the 6-target file extracts for PY). PY runs both;
each figure is the median of --runs interleaved runs:

* warm start: both extractions in place; goal: 6-target <= single + 5 ms.
* cold start: each run in an empty cache root; goal: 6-target <= 1.0x single.
* instructions of one warm and one cold run of each (valgrind's callgrind, when
  installed): the same comparisons without the machine's noise.
* size: the 6-target file against the sum of the six single-target files (also built).

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
# app: (project directory, console script)
APPS = {
    "fleet": (os.path.join(os.path.dirname(HERE), "examples", "fleet"), "fleet"),
    "trivial": (os.path.join(HERE, "fixtures", "trivial"), "hello"),
}
PLATFORM = "manylinux2014_x86_64"
VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


def timed(cmd, env):
    """Seconds one run of `cmd` takes; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit("bench: %s failed: %s" % (" ".join(cmd), done.stderr.decode(errors="replace")))
    return elapsed


def instructions(cmd, env):
    """Instructions of one run of `cmd` under callgrind, or None without valgrind."""
    if not shutil.which("valgrind"):
        return None
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd,
        env=env, capture_output=True,
    )
    for line in done.stderr.decode(errors="replace").splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1])
    return None


def median_ms(samples):
    """The median of seconds, as milliseconds."""
    return statistics.median(samples) * 1000


def build(rshiv, app, out, versions, env, work):
    """`rshiv --python-version V... --platform PLATFORM -c SCRIPT -o out APP`, from a copy."""
    project, script = APPS[app]
    source = os.path.join(work, "src-" + os.path.basename(out))
    shutil.copytree(project, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "*.pyz"))
    cmd = [rshiv, "-q", "--platform", PLATFORM, "-c", script, "-o", out]
    for version in versions:
        cmd += ["--python-version", version]
    subprocess.run(cmd + [source], env=env, check=True)


def main(argv=None):
    """Build, measure, print one markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rshiv", required=True)
    parser.add_argument("--app", choices=sorted(APPS), default="fleet")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs both")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args(argv)
    rshiv = os.path.abspath(args.rshiv)
    python = subprocess.run(
        [args.python, "-c", "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, check=True, text=True,
    ).stdout.split()
    python, version = python[0], python[1]
    parent = "/dev/shm" if os.path.isdir("/dev/shm") else None
    work = tempfile.mkdtemp(prefix="rshiv-fleet-bench-", dir=parent)
    try:
        env = dict(os.environ, RSHIV_ROOT=os.path.join(work, "root"))
        fleet = os.path.join(work, "fleet.pyz")
        single = os.path.join(work, "single.pyz")
        build(rshiv, args.app, fleet, VERSIONS, env, work)
        singles = {}
        for each in VERSIONS:
            singles[each] = os.path.join(work, "single-%s.pyz" % each)
            build(rshiv, args.app, singles[each], [each], env, work)
        shutil.copy(singles[version], single)

        # Warm: one first run of each puts the extractions in place; then interleaved runs,
        # so that the load of a busy machine falls on both alike.
        for pyz in (fleet, single):
            timed([python, pyz], env)
        warm_fleet, warm_single = [], []
        for _ in range(args.runs):
            warm_fleet.append(timed([python, fleet], env))
            warm_single.append(timed([python, single], env))
        warm_counts = [instructions([python, pyz], env) for pyz in (fleet, single)]
        cold_counts = []
        for pyz in (fleet, single):
            root = os.path.join(work, "cold-count")
            cold_counts.append(instructions([python, pyz], dict(env, RSHIV_ROOT=root)))
            shutil.rmtree(root, ignore_errors=True)

        cold_fleet, cold_single = [], []
        for i in range(args.runs):
            for pyz, samples in ((fleet, cold_fleet), (single, cold_single)):
                root = os.path.join(work, "cold-%d" % i)
                samples.append(timed([python, pyz], dict(env, RSHIV_ROOT=root)))
                shutil.rmtree(root)

        wf, ws, cf, cs = map(median_ms, (warm_fleet, warm_single, cold_fleet, cold_single))
        size, parts = os.path.getsize(fleet), [os.path.getsize(singles[v]) for v in VERSIONS]
        print("| %s, CPython %s | 6 targets | single target | goal | met |" % (args.app, version))
        print("|---|---|---|---|---|")
        print(
            "| warm start (ms) | %.1f | %.1f | <= +5 ms | %+.1f ms (%.2fx) |"
            % (wf, ws, wf - ws, wf / ws)
        )
        print("| cold start (ms) | %.1f | %.1f | <= 1.0x | %.2fx |" % (cf, cs, cf / cs))
        for what, counts in (("warm", warm_counts), ("cold", cold_counts)):
            if None not in counts:
                print(
                    "| %s start (instructions) | %d | %d | | %+d (%+.2f%%) |"
                    % (what, counts[0], counts[1], counts[0] - counts[1],
                       100.0 * (counts[0] - counts[1]) / counts[1])
                )
        print(
            "| size (bytes) | %d | %d (sum of the 6 single-target files) | | %.0f%% |"
            % (size, sum(parts), 100.0 * size / sum(parts))
        )
        print("\nmedians of %d interleaved runs; %s" % (args.runs, python))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
