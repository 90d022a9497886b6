"""How the benchmark measures one process: wall time, and peak memory three ways.

Why not /usr/bin/time: GNU time's `%M` is the `ru_maxrss` that `wait4(2)` returns for the
child, which Linux computes as the largest peak RSS of any single process in the tree (the
child and the descendants it waited for), never a sum. `os.wait4` hands the driver that very
figure, with no extra process and with an exact end time. Two sampled figures complete it:
the child's own peak (`VmHWM` in /proc/PID/status, so rshiv's RSS is told apart from the
installer it runs) and the largest sum of RSS over the whole tree at any one sample.
"""

import os
import subprocess
import threading
import time
from dataclasses import dataclass

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# Sampling period of the memory poller, in seconds. VmHWM is a high-water mark, so a later
# sample never misses an earlier peak: only growth in the last period before the exit can
# escape it. The tree sum is a true sample and can miss short peaks.
POLL_PERIOD = 0.025


@dataclass
class Sample:
    """One measured run of a command."""

    seconds: float
    returncode: int
    # ru_maxrss from wait4, in KiB: what GNU time's %M prints.
    tree_max_kb: int
    # The direct child's own VmHWM in KiB, sampled (0 when not polled).
    own_kb: int = 0
    # The largest sampled sum of VmRSS over the child and all its descendants, in KiB.
    tree_sum_kb: int = 0
    # User plus system CPU time of the child and the descendants it waited for (wait4):
    # what a loaded machine disturbs much less than wall time.
    cpu_seconds: float = 0.0


def _status_kb(pid, field):
    """Return a `kB` field of /proc/PID/status, or 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(pid):
    """Return pid and every process below it, by scanning each /proc/N/stat for its parent."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # The command name is in parentheses and may hold spaces: parse after it.
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _rss_kb(pid):
    """Return the resident set size of one process in KiB, or 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_KB
    except (OSError, ValueError, IndexError):
        return 0


class _Poller(threading.Thread):
    """Samples the child's VmHWM and the tree's total RSS until told to stop."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.own_kb = 0
        self.tree_sum_kb = 0

    def run(self):
        while not self.stop.is_set():
            self.own_kb = max(self.own_kb, _status_kb(self.pid, "VmHWM"))
            tree = sum(_rss_kb(p) for p in _descendants(self.pid))
            self.tree_sum_kb = max(self.tree_sum_kb, tree)
            self.stop.wait(POLL_PERIOD)


def run(cmd, *, env, cwd=None, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, poll=False):
    """Run cmd to completion and return a Sample.

    The time runs from just before the fork to the return of wait4, so it includes the
    cost of starting a process, the same for every tool and for the plain-python baseline.
    """
    poller = None
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=stdout, stderr=stderr)
    if poll:
        poller = _Poller(proc.pid)
        poller.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    # wait4 reaped the child; tell Popen so it never waits for it again.
    proc.returncode = os.waitstatus_to_exitcode(status)
    sample = Sample(seconds, proc.returncode, usage.ru_maxrss,
                    cpu_seconds=usage.ru_utime + usage.ru_stime)
    if poller:
        poller.stop.set()
        poller.join()
        sample.own_kb = poller.own_kb
        sample.tree_sum_kb = poller.tree_sum_kb
    return sample
