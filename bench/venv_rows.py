"""Warm start of an app against the same packages pip-installed in a venv (issue 15).

A venv never recompiles: pip compiles what it installs. So each pyz's warm start is set
against the venv's console script in three environments: the default one,
PYTHONDONTWRITEBYTECODE=1 (most Docker images), and an extraction made and warmed by root
that an unprivileged user with a home of its own runs (a pre-warmed cache, a service user).

The pyz files run with a clean interpreter: the python of an empty venv made from the same
interpreter as the app's venv (`python -m venv`, so pip and setuptools, like the app's).
Both then start the same binary with the same site-packages but for the app, and the ratio
is what the pyz costs. Run by the interpreter itself, a pyz also sees that interpreter's own
site-packages (a distribution's dist-packages, with their .pth files), which the venv leaves
out: one more row shows that case, the default environment with the system interpreter.
All runners take turns, round after round, so that the load of a shared machine spreads over
them evenly; the tables show medians. Stdlib only.
"""

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import measure

# The unprivileged user of the third row, made with `useradd --create-home` when missing.
BENCH_USER = "rshiv-bench"
ROWS = {
    "default": "default environment",
    "dont_write": "PYTHONDONTWRITEBYTECODE=1",
    "other_user": "root-made, warmed extraction, run by another user",
    "system": "default environment, the system interpreter (its site-packages too)",
}
# Issue 15: pyz warm start / venv warm start, in every row.
VENV_RATIO_GOAL = 1.05


def venv_script(ctx, workload, say):
    """The workload pip-installed into a venv of ctx.python, once; its console script."""
    venv = ctx.work / "venv-app" / workload.name
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        say(f"[{workload.name}] pip-installing the app into the venv {venv}")
        subprocess.run([ctx.python, "-m", "venv", str(venv)], check=True)
        ctx.fresh_project(workload)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        *ctx.sources(workload)], env=ctx.build_env(), check=True)
        (venv / ".complete").touch()
    return venv / "bin" / workload.console_script


def clean_python(ctx):
    """The python of an empty venv of ctx.python (made once): the interpreter the pyz rows
    run with, so that they see no site-packages the app's venv leaves out."""
    venv = ctx.work / "venv-clean"
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([ctx.python, "-m", "venv", str(venv)], check=True)
        (venv / ".complete").touch()
    return str(venv / "bin" / "python")


def other_user(ctx):
    """(setpriv prefix, home) of BENCH_USER, or (None, why) when the row cannot run."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None, "needs root and setpriv"
    try:
        pwd.getpwnam(BENCH_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", BENCH_USER], check=True,
                       capture_output=True)
    home = pwd.getpwnam(BENCH_USER).pw_dir
    prefix = ["setpriv", "--reuid", BENCH_USER, "--regid", BENCH_USER, "--clear-groups"]
    if subprocess.run([*prefix, ctx.python, "-c", "pass"], capture_output=True).returncode:
        return None, f"{BENCH_USER} cannot run {ctx.python} (use BENCH_PYTHON=/usr/bin/python3)"
    return prefix, home


def runners(ctx, workload, tools, say):
    """(row, label, command, env) of every start to time, each checked (and warmed) once."""
    script = venv_script(ctx, workload, say)
    base = ctx.shm / "venv-rows"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    # The other user reaches the cache roots through the driver's private temp dir.
    os.chmod(ctx.shm, 0o755)
    prefix, home = other_user(ctx)
    python = clean_python(ctx)
    found = []
    for row in ROWS:
        if row == "other_user" and prefix is None:
            continue
        for label, tool in [("venv", None), *tools.items()]:
            root = base / row / label
            env = ctx.run_env(root)
            if row == "dont_write":
                env["PYTHONDONTWRITEBYTECODE"] = "1"
            interpreter = ctx.python if row == "system" else python
            app = [str(script)] if tool is None else [interpreter, str(ctx.artifact(workload, tool))]
            command = [*app, *workload.argv]
            # Root makes and warms the extraction; the other user then runs it.
            warm = subprocess.run(command, env=env, cwd=ctx.work, capture_output=True)
            if row == "other_user":
                env = {**env, "HOME": home, "USER": BENCH_USER}
                env.pop("TMPDIR", None)
                command = [*prefix, *command]
                warm = subprocess.run(command, env=env, cwd="/", capture_output=True)
            if warm.returncode:
                say(f"[{workload.name}] {ROWS[row]}: {label} fails: "
                    f"{warm.stderr.decode(errors='replace').strip()[-200:]}")
                continue
            found.append((row, label, command, env))
    return found


def run_rows(ctx, workload, tools, result, say):
    """Time the rows, round-robin, ctx.warm_runs rounds; store them in result["venv_rows"]."""
    if not workload.console_script:
        return
    rows = result["venv_rows"] = {row: {} for row in ROWS}
    timed = runners(ctx, workload, tools, say)
    for row, label, _, _ in timed:
        rows[row][label] = {"wall": [], "cpu": []}
    say(f"[{workload.name}] warm starts against a venv: {ctx.warm_runs} rounds of {len(timed)}")
    for _ in range(ctx.warm_runs):
        for row, label, command, env in timed:
            cwd = "/" if row == "other_user" else ctx.work
            sample = measure.run(command, env=env, cwd=cwd)
            if sample.returncode == 0:
                rows[row][label]["wall"].append(sample.seconds)
                rows[row][label]["cpu"].append(sample.cpu_seconds)


def table(results, render_table, fmt, median):
    """The markdown of every workload's rows: medians of wall and CPU time, and each one's
    ratio to the venv's, against the goal."""
    lines = []
    for workload, result in results["workloads"].items():
        for row, starts in result.get("venv_rows", {}).items():
            venv = starts.get("venv", {})
            for label, times in starts.items():
                line = [workload, ROWS[row], label]
                verdicts = []
                for kind in ("wall", "cpu"):
                    mine, theirs = median(times[kind]), median(venv.get(kind, []))
                    ratio = None if mine is None or not theirs else mine / theirs
                    line += [fmt(None if mine is None else mine * 1000, 0), fmt(ratio, 2, "×")]
                    if label != "venv" and ratio is not None:
                        verdicts.append("met" if ratio <= VENV_RATIO_GOAL else "NOT met")
                lines.append(line + [" / ".join(verdicts)])
    if not lines:
        return None
    return ("## Warm start against a venv (issue 15: pyz / venv ≤ %.2f× in every row)\n\n"
            % VENV_RATIO_GOAL) + render_table(
        ["workload", "environment", "run", "wall median ms", "/ venv", "CPU median ms",
         "/ venv", "goal (wall / CPU)"], lines)
