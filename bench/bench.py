"""rshiv's benchmark driver: rshiv beside shiv, pex and the stdlib zipapp, in one table.

Called by bench/run.sh, which prepares the venv (shiv, pex, uv) and the rshiv binary. For
each workload it builds with every tool (one untimed warm-up build first, so that package
caches are warm), then times warm starts against plain `python` running the same entry
point, and cold starts with the cache root on tmpfs (rshiv's also pinned to one core);
`--compression` adds a sweep of rshiv's compression methods. Issues 3 and 5 set the goals;
the README explains each figure. Stdlib only.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import measure
import report
import venv_rows

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FIXTURES = BENCH / "fixtures"

# Variables that pick a cache root or change what a pyz runs; cleared for every run so that
# the caller's environment cannot leak into a figure.
RUNTIME_VARIABLES = (
    "RSHIV_ROOT", "SHIV_ROOT", "PEX_ROOT", "SHIV_FORCE_EXTRACT", "SHIV_INTERPRETER",
    "SHIV_ENTRY_POINT", "SHIV_MODULE", "SHIV_CONSOLE_SCRIPT", "SHIV_COMPILE_PYC",
    "SHIV_EXTEND_PYTHONPATH", "SHIV_PREPEND_PYTHONPATH", "PEX_MODULE", "PEX_SCRIPT",
    "PEX_INTERPRETER", "PEX_VERBOSE", "PEX_TOOLS", "PYTHONPATH", "PYTHONSTARTUP",
    "PYTHONDONTWRITEBYTECODE", "RSHIV_LOCK_TIMEOUT",
)

BUILD_TOOLS = ("rshiv-uv", "rshiv-lock", "rshiv-pip", "shiv", "pex", "zipapp")

# `--compression all`: every family rshiv offers that the stdlib's zipfile extracts. The
# slowest deflate levels (10-12, zopfli) are left to an explicit list.
COMPRESSION_SWEEP = ("stored", "deflate-1", "deflate-6", "deflate-9", "bzip2", "lzma")


@dataclass
class Workload:
    """An app to build and start, the same way with every tool."""

    name: str
    # `module:attr`: what the baseline calls, and `-e` when there is no console script.
    entry: str
    # Arguments of every start; the app must exit 0 with them.
    argv: list
    # A line the app prints, checked once per tool before timing.
    expect: str
    console_script: str = None
    # A local project (`.` in shiv's words), copied afresh before each build, since
    # setuptools writes build/ and *.egg-info into the tree it builds.
    project: Path = None
    # A requirements file, passed as `-r FILE`.
    requirements: Path = None
    # What `python -m` runs for the second baseline (defaults to the entry's module).
    m_module: str = None
    # Directory for the stdlib zipapp (only the trivial app has no dependencies).
    zipapp_src: Path = None
    # Dirs the baseline puts on sys.path; "install" means the sources installed by uv.
    baseline_path: list = field(default_factory=list)
    build_runs: int = 5
    # Whether `rshiv-lock` builds it from a lock (the trivial app has nothing to lock).
    lockable: bool = True


def workloads():
    """The three workloads of issues 3 and 5, by name."""
    trivial = FIXTURES / "trivial"
    heavy = FIXTURES / "heavy"
    return {
        "trivial": Workload(
            name="trivial",
            project=trivial,
            entry="hello:main",
            argv=[],
            expect="hello",
            zipapp_src=trivial / "src",
            baseline_path=[str(trivial / "src")],
            lockable=False,
        ),
        "simple_api": Workload(
            name="simple_api",
            project=FIXTURES / "simple_api",
            entry="simple_api.cli:main",
            console_script="simple_api",
            m_module="simple_api",
            argv=["--check"],
            expect="routes",
            baseline_path=["install"],
        ),
        "heavy": Workload(
            name="heavy",
            requirements=heavy / "requirements.txt",
            entry="json.tool:main",
            argv=[str(heavy / "tiny.json")],
            expect='"tiny": true',
            build_runs=3,
        ),
    }


@dataclass
class Context:
    """Paths and settings shared by every step."""

    work: Path
    venv_bin: Path
    python: str
    rshiv: str
    shm: Path
    tools: list
    build_runs: int
    warm_runs: int
    cold_runs: int
    only: str
    compression: list

    def build_env(self):
        """Environment of a build: the venv first on PATH (uv, shiv, pex), caches in work/
        (rshiv's reused build environments too: the warm-up build makes them)."""
        env = clean_env()
        env["PATH"] = f"{self.venv_bin}{os.pathsep}{env.get('PATH', '')}"
        env["PIP_CACHE_DIR"] = str(self.work / "cache" / "pip")
        env["UV_CACHE_DIR"] = str(self.work / "cache" / "uv")
        env["PEX_ROOT"] = str(self.work / "cache" / "pex")
        env["RSHIV_BUILD_CACHE"] = str(self.work / "cache" / "rshiv-build")
        return env

    def run_env(self, root):
        """Environment of a start: the caller's PATH, every tool's cache root set to root."""
        env = clean_env()
        for variable in ("RSHIV_ROOT", "SHIV_ROOT", "PEX_ROOT"):
            env[variable] = str(root)
        return env

    def artifact(self, workload, tool):
        """Where a tool's build of a workload goes."""
        suffix = ".pex" if tool == "pex" else ".pyz"
        return self.work / "out" / workload.name / f"{tool}{suffix}"

    def sources(self, workload, tool=None):
        """The installer arguments: the fresh copy of the project, or `-r FILE`; for the
        locked build of a requirements workload, `--lock` and its pylock.toml instead."""
        if workload.project:
            return [str(self.work / "src" / workload.name)]
        if tool == "rshiv-lock":
            return ["--lock", str(self.lock(workload))]
        return ["-r", str(workload.requirements)]

    def fresh_project(self, workload, tool=None):
        """Copy the workload's project to where sources() points, replacing any old copy;
        for the locked build, with the workload's uv.lock beside its pyproject.toml."""
        if workload.project:
            copy = Path(self.sources(workload)[0])
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(workload.project, copy, ignore=shutil.ignore_patterns(
                "build", "*.egg-info", "__pycache__"))
            if tool == "rshiv-lock":
                shutil.copy(self.lock(workload), copy / "uv.lock")

    def lock(self, workload):
        """The workload's lock, made once (with the venv's uv, from the index as it is
        then) into work/locks/: a project's uv.lock (`uv lock`), a requirements file's
        pylock.toml (`uv pip compile --format pylock.toml`). A rerun reuses it, so every
        locked build installs the same files."""
        where = self.work / "locks" / workload.name
        lock = where / ("uv.lock" if workload.project else "pylock.toml")
        if lock.exists():
            return lock
        say(f"[{workload.name}] making {lock}")
        where.mkdir(parents=True, exist_ok=True)
        uv = str(self.venv_bin / "uv")
        if workload.project:
            shutil.copy(workload.project / "pyproject.toml", where / "pyproject.toml")
            cmd = [uv, "lock", "--python", self.python]
        else:
            cmd = [uv, "pip", "compile", "--format", "pylock.toml", "--python", self.python,
                   "-o", str(lock), str(workload.requirements)]
        subprocess.run(cmd, env=self.build_env(), cwd=where, check=True,
                       stdout=subprocess.DEVNULL)
        return lock

    def log(self, workload, tool, what):
        """A log file for one command's output, kept for post-mortems."""
        path = self.work / "logs" / workload.name / f"{tool}-{what}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def clean_env():
    """os.environ without the variables that would steer a pyz."""
    return {k: v for k, v in os.environ.items() if k not in RUNTIME_VARIABLES}


def build_command(ctx, workload, tool, out):
    """The command line of one build, or None when the tool cannot build this workload."""
    target = (["-c", workload.console_script] if workload.console_script
              else ["-e", workload.entry])
    if tool.startswith("rshiv-compression-"):
        method = ["--compression", tool.removeprefix("rshiv-compression-")]
        return [ctx.rshiv, *method, "-o", str(out), *target, *ctx.sources(workload)]
    if tool in ("rshiv-uv", "rshiv-pip", "rshiv-lock"):
        installer = ["--installer", "pip"] if tool == "rshiv-pip" else []
        if tool == "rshiv-lock" and not workload.lockable:
            return None
        return [ctx.rshiv, *installer, "-o", str(out), *target, *ctx.sources(workload, tool)]
    if tool == "shiv":
        return [str(ctx.venv_bin / "shiv"), "-o", str(out), *target, *ctx.sources(workload)]
    if tool == "pex":
        return [str(ctx.venv_bin / "pex"), *ctx.sources(workload), *target, "-o", str(out)]
    if tool == "zipapp" and workload.zipapp_src:
        return [ctx.python, "-m", "zipapp", str(workload.zipapp_src), "-m", workload.entry,
                "-p", "/usr/bin/env python3", "-o", str(out)]
    return None


def say(message):
    """Progress on stderr; stdout is kept for the tables."""
    print(message, file=sys.stderr, flush=True)


def build_once(ctx, workload, tool, poll, what):
    """Build one artifact from scratch, returning the Sample (output in a log file)."""
    out = ctx.artifact(workload, tool)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    cmd = build_command(ctx, workload, tool, out)
    ctx.fresh_project(workload, tool)
    with open(ctx.log(workload, tool, what), "w") as log:
        log.write(" ".join(cmd) + "\n")
        log.flush()
        return measure.run(cmd, env=ctx.build_env(), cwd=ctx.work, stdout=log, stderr=log,
                           poll=poll)


def check_start(ctx, workload, tool, root):
    """Run an artifact once (this also fills a warm cache); return an error or None."""
    cmd = [ctx.python, str(ctx.artifact(workload, tool)), *workload.argv]
    proc = subprocess.run(cmd, env=ctx.run_env(root), cwd=ctx.work, capture_output=True,
                          text=True)
    if proc.returncode != 0 or workload.expect not in proc.stdout:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return f"exit {proc.returncode}: {' | '.join(tail)}"
    return None


def run_builds(ctx, workload, result):
    """Warm-up build per tool, then the timed builds, round-robin so noise spreads evenly."""
    tools = [t for t in ctx.tools if build_command(ctx, workload, t, Path("x"))]
    builds = result.setdefault("build", {})
    for tool in tools:
        entry = builds[tool] = {"times": [], "tree_max_kb": [], "own_kb": [], "tree_sum_kb": []}
        if tool.startswith("rshiv") and not Path(ctx.rshiv).exists():
            entry["status"] = "rshiv binary not found"
            continue
        say(f"[{workload.name}] warm-up build: {tool}")
        sample, error = warm_up(ctx, workload, tool)
        entry["status"] = error or "ok"
        if sample.returncode == 0:
            entry["size"] = ctx.artifact(workload, tool).stat().st_size
    ok = [t for t in tools if builds[t]["status"] == "ok"]
    runs = 0 if ctx.only == "start" else ctx.build_runs or workload.build_runs
    for index in range(runs):
        for tool in ok:
            say(f"[{workload.name}] build {index + 1}/{runs}: {tool}")
            sample = build_once(ctx, workload, tool, poll=True, what="build")
            entry = builds[tool]
            if sample.returncode:
                entry["status"] = f"timed build failed (exit {sample.returncode})"
                continue
            entry["times"].append(sample.seconds)
            entry["tree_max_kb"].append(sample.tree_max_kb)
            entry["own_kb"].append(sample.own_kb)
            entry["tree_sum_kb"].append(sample.tree_sum_kb)
            entry["size"] = ctx.artifact(workload, tool).stat().st_size
    result["payload"] = payload_facts(ctx, workload, builds)


def payload_facts(ctx, workload, builds):
    """Files and unpacked bytes of the payload, read from shiv's pyz (site-packages/...)."""
    shiv = ctx.artifact(workload, "shiv")
    if builds.get("shiv", {}).get("status") != "ok" or not shiv.exists():
        return None
    with zipfile.ZipFile(shiv) as archive:
        members = [i for i in archive.infolist() if i.filename.startswith("site-packages/")]
    return {"files": len(members), "bytes": sum(i.file_size for i in members)}


def baseline_commands(ctx, workload):
    """Plain python running the entry point: as `-c` (the reference) and as `-m`."""
    paths = []
    for path in workload.baseline_path:
        if path == "install":
            path = str(install_baseline(ctx, workload))
        paths.append(path)
    module, attr = workload.entry.split(":")
    code = (f"import sys; sys.path[0:0] = {paths!r}; sys.argv = {[module, *workload.argv]!r}; "
            f"from {module} import {attr}; sys.exit({attr}())")
    m_module = workload.m_module or module
    env = clean_env()
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return {
        "python -c": ([ctx.python, "-c", code], clean_env()),
        "python -m": ([ctx.python, "-m", m_module, *workload.argv], env),
    }


def install_baseline(ctx, workload):
    """Install the workload's sources into a plain directory (uv, warm cache) once."""
    target = ctx.work / "baseline" / workload.name
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        say(f"[{workload.name}] installing the baseline's packages into {target}")
        ctx.fresh_project(workload)
        subprocess.run([str(ctx.venv_bin / "uv"), "pip", "install", "--quiet", "--python",
                        ctx.python, "--target", str(target), *ctx.sources(workload)],
                       env=ctx.build_env(), check=True)
        (target / ".complete").touch()
    return target


def start_tools(ctx, result):
    """The artifacts to start: rshiv's uv build stands for rshiv (same payload as pip's)."""
    builds = result.get("build", {})
    chosen = {}
    for label, candidates in (("rshiv", ("rshiv-uv", "rshiv-pip")), ("shiv", ("shiv",)),
                              ("pex", ("pex",)), ("zipapp", ("zipapp",))):
        for tool in candidates:
            if tool in ctx.tools and builds.get(tool, {}).get("status") == "ok":
                chosen[label] = tool
                break
    return chosen


def run_starts(ctx, workload, result):
    """Warm starts (round-robin with the baselines), then cold starts on an emptied root."""
    tools = start_tools(ctx, result)
    starts = result.setdefault("start", {})
    baselines = baseline_commands(ctx, workload)
    for label, (cmd, env) in baselines.items():
        proc = subprocess.run(cmd, env=env, cwd=ctx.work, capture_output=True, text=True)
        ok = proc.returncode == 0 and workload.expect in proc.stdout
        starts[label] = {"status": "ok" if ok else f"exit {proc.returncode}: "
                         f"{proc.stderr.strip()[-200:]}", "warm": [], "rss_kb": []}
    for label, tool in tools.items():
        root = ctx.shm / "warm" / workload.name / label
        shutil.rmtree(root, ignore_errors=True)
        error = check_start(ctx, workload, tool, root)
        starts[label] = {"tool": tool, "status": error or "ok", "warm": [], "rss_kb": [],
                         "cold": [], "cold_rss_kb": []}
    runners = [(label, cmd, env) for label, (cmd, env) in baselines.items()
               if starts[label]["status"] == "ok"]
    for label, tool in tools.items():
        if starts[label]["status"] == "ok":
            root = ctx.shm / "warm" / workload.name / label
            runners.append((label, [ctx.python, str(ctx.artifact(workload, tool)),
                                    *workload.argv], ctx.run_env(root)))
    say(f"[{workload.name}] warm starts: {ctx.warm_runs} rounds of {len(runners)}")
    for _ in range(ctx.warm_runs):
        for label, cmd, env in runners:
            sample = measure.run(cmd, env=env, cwd=ctx.work)
            if sample.returncode == 0:
                starts[label]["warm"].append(sample.seconds)
                starts[label]["rss_kb"].append(sample.tree_max_kb)
    # Issue 5 wants rshiv's first run to improve with more cores: the same run pinned to
    # one core shows what the others bring.
    one_core = None
    if "rshiv" in tools and starts["rshiv"]["status"] == "ok" and (os.cpu_count() or 1) > 1 \
            and shutil.which("taskset"):
        one_core = result["cold_one_core"] = {"tool": tools["rshiv"], "cold": [],
                                              "cold_rss_kb": []}
    for index in range(ctx.cold_runs):
        for label, tool in tools.items():
            if starts[label]["status"] == "ok":
                say(f"[{workload.name}] cold start {index + 1}/{ctx.cold_runs}: {label}")
                cold_start(ctx, workload, tool, starts[label])
        if one_core:
            say(f"[{workload.name}] cold start {index + 1}/{ctx.cold_runs}: rshiv on one core")
            cold_start(ctx, workload, one_core["tool"], one_core, ["taskset", "-c", "0"])


def cold_start(ctx, workload, tool, entry, prefix=()):
    """One start into an emptied cache root; adds its time and peak RSS to entry."""
    root = ctx.shm / "cold" / workload.name / tool
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    cmd = [*prefix, ctx.python, str(ctx.artifact(workload, tool)), *workload.argv]
    sample = measure.run(cmd, env=ctx.run_env(root), cwd=ctx.work)
    if sample.returncode == 0:
        entry["cold"].append(sample.seconds)
        entry["cold_rss_kb"].append(sample.tree_max_kb)
    shutil.rmtree(root, ignore_errors=True)


def warm_up(ctx, workload, tool):
    """One untimed build that fills the caches, then a check that its output starts and
    prints what it should: (sample, error or None)."""
    sample = build_once(ctx, workload, tool, poll=False, what="warmup")
    check_root = ctx.shm / "check" / workload.name / tool
    error = (f"build failed (exit {sample.returncode}): "
             f"{tail(ctx.log(workload, tool, 'warmup'))}" if sample.returncode else
             check_start(ctx, workload, tool, check_root))
    shutil.rmtree(check_root, ignore_errors=True)
    return sample, error


def run_compression(ctx, workload, result):
    """rshiv's --compression methods side by side (issue 3): build time, size, cold start.

    Builds with uv like the `rshiv (uv)` column, so the method is the only difference."""
    if not Path(ctx.rshiv).exists():
        return
    sweep = result["compression"] = {}
    tools = {method: f"rshiv-compression-{method}" for method in ctx.compression}
    for method, tool in tools.items():
        say(f"[{workload.name}] --compression {method}: warm-up build")
        _, error = warm_up(ctx, workload, tool)
        sweep[method] = {"status": error or "ok", "times": [], "cold": [], "cold_rss_kb": []}
        if not error:
            sweep[method]["size"] = ctx.artifact(workload, tool).stat().st_size
    ok = {m: t for m, t in tools.items() if sweep[m]["status"] == "ok"}
    runs = 0 if ctx.only == "start" else ctx.build_runs or workload.build_runs
    for index in range(runs):
        for method, tool in ok.items():
            say(f"[{workload.name}] --compression {method}: build {index + 1}/{runs}")
            sample = build_once(ctx, workload, tool, poll=False, what="build")
            if sample.returncode == 0:
                sweep[method]["times"].append(sample.seconds)
    for index in range(0 if ctx.only == "build" else ctx.cold_runs):
        for method, tool in ok.items():
            say(f"[{workload.name}] --compression {method}: cold start {index + 1}")
            cold_start(ctx, workload, tool, sweep[method])


def tail(path):
    """The last non-empty line of a log, for a status cell."""
    lines = [line for line in Path(path).read_text(errors="replace").splitlines() if line]
    return lines[-1][:200] if lines else "(empty log)"


def command_output(cmd):
    """The first line a command prints, or `unavailable`."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except OSError:
        return "unavailable"
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0] if proc.returncode == 0 and lines else "unavailable"


def version(cmd):
    """The version number a `--version` command prints (`shiv, version 1.0.8` -> 1.0.8)."""
    found = re.search(r"\d+(\.\d+)+\S*", command_output(cmd))
    return found.group(0) if found else "unavailable"


def machine(ctx):
    """What the figures were measured on, for the header of the tables."""
    cpu = "unknown"
    memory_kb = 0
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    commit = command_output(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(memory_kb / 1e6, 1),
        "kernel": os.uname().release,
        "loadavg": os.getloadavg()[0],
        "python": command_output([ctx.python, "-V"]),
        "python_path": ctx.python,
        "versions": {
            "rshiv": version([ctx.rshiv, "--version"]) + f" (commit {commit})",
            "shiv": version([str(ctx.venv_bin / "shiv"), "--version"]),
            "pex": version([str(ctx.venv_bin / "pex"), "--version"]),
            "uv": version([str(ctx.venv_bin / "uv"), "--version"]),
            "pip": version([str(ctx.venv_bin / "python"), "-m", "pip", "--version"]),
        },
    }


def compression_methods(option):
    """The methods of --compression: none, a comma-separated list, or `all`."""
    if not option:
        return []
    return list(COMPRESSION_SWEEP) if option == "all" else option.split(",")


# Free space the cache roots need: heavy unpacks 154 MB per tool, pex more, several at once.
CACHE_SPACE = 2_000_000_000


def cache_parent(shm):
    """Where the cache roots go: shm when it exists and has room (a container's /dev/shm is
    often 64 MB), else the temp dir, which the table's header then names."""
    if shm.is_dir() and shutil.disk_usage(shm).free >= CACHE_SPACE:
        return shm
    say(f"{shm} is missing or has under {CACHE_SPACE / 1e9:.0f} GB free; "
        f"cache roots go to {tempfile.gettempdir()}")
    return Path(tempfile.gettempdir())


def parse_args(argv):
    """The driver's options; run.sh passes the paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="trivial and simple_api only, fewer runs")
    parser.add_argument("--workload", action="append", choices=list(workloads()),
                        help="run only this workload (repeatable)")
    parser.add_argument("--runs", type=int, help="timed builds and cold starts per tool "
                        "[default: builds 5, heavy 3; cold starts 5; --quick 1 and 3]")
    parser.add_argument("--warm-runs", type=int,
                        help="warm starts per tool [default 40; --quick 10]")
    parser.add_argument("--tools", default=",".join(BUILD_TOOLS),
                        help=f"comma-separated subset of {','.join(BUILD_TOOLS)}")
    parser.add_argument("--only", choices=("build", "start", "all"), default="all",
                        help="start figures need the builds, so `start` rebuilds untimed")
    parser.add_argument("--compression", metavar="METHODS",
                        help="also sweep rshiv's --compression methods (comma-separated, "
                        f"or `all` for {','.join(COMPRESSION_SWEEP)}): size, build time and "
                        "cold start of each")
    parser.add_argument("--work", type=Path, required=True, help="bench/work")
    parser.add_argument("--venv-bin", type=Path, required=True)
    parser.add_argument("--python", required=True, help="the interpreter that runs the apps")
    parser.add_argument("--rshiv", required=True, help="the rshiv binary")
    parser.add_argument("--shm", type=Path, default=Path("/dev/shm"),
                        help="tmpfs for cache roots [default /dev/shm]")
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    unknown = set(args.tools.split(",")) - set(BUILD_TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    return args


def main(argv=None):
    """Build, start, print the tables and save them to results/latest.{md,json}."""
    args = parse_args(argv)
    names = args.workload or (["trivial", "simple_api"] if args.quick
                              else ["trivial", "simple_api", "heavy"])
    shm_base = cache_parent(args.shm)
    shm = Path(tempfile.mkdtemp(prefix="rshiv-bench-", dir=shm_base))
    ctx = Context(
        work=args.work.resolve(),
        venv_bin=args.venv_bin.resolve(),
        python=args.python,
        rshiv=args.rshiv,
        shm=shm,
        tools=args.tools.split(","),
        build_runs=args.runs or (1 if args.quick else 0),
        warm_runs=args.warm_runs or (10 if args.quick else 40),
        cold_runs=args.runs or (3 if args.quick else 5),
        only=args.only,
        compression=compression_methods(args.compression),
    )
    results = {"machine": machine(ctx), "settings": {
        "workloads": names, "tools": ctx.tools, "build_runs": ctx.build_runs,
        "warm_runs": ctx.warm_runs, "cold_runs": ctx.cold_runs, "tmpfs": str(shm_base),
        "only": ctx.only}, "workloads": {}}
    every = workloads()
    try:
        for name in names:
            workload = every[name]
            result = results["workloads"][name] = {}
            run_builds(ctx, workload, result)
            if ctx.only != "build":
                run_starts(ctx, workload, result)
                started = {label: tool for label, tool in start_tools(ctx, result).items()
                           if result["start"][label]["status"] == "ok"}
                venv_rows.run_rows(ctx, workload, started, result, say)
            if ctx.compression:
                run_compression(ctx, workload, result)
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    text = report.render(results)
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "latest.md").write_text(text)
    (args.results / "latest.json").write_text(json.dumps(results, indent=1) + "\n")
    say(f"saved {args.results / 'latest.md'} and latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
