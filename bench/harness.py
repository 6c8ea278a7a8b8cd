"""A small timing harness: medians of repeated runs, PyTorch side by side, environment report.

    from bench.harness import Bench
    bench = Bench()                           # prints BLAS kernel and thread counts
    bench.compare("conv fwd", ours, theirs)   # theirs=None when PyTorch is not installed
    bench.table()

``compare`` warms both functions up, then alternates them (ours, theirs, ours, ...) so that a
slow spell of the machine hits both sides alike, and reports the minimum of each and their
ratio (ours / PyTorch: below 1.0 means minidl is faster). The minimum, not the median: on a
machine shared with other work, every disturbance only adds time, so the fastest run of each
side is the closest to its undisturbed speed. The load average is printed with the figures.
"""

import os
import resource
import subprocess
import sys
import time


def try_torch():
    """The torch module, or None when it is not installed (benchmarks then time minidl only).

    PyTorch's OpenMP threads spin-wait for a while after each call by default; in a process
    that alternates PyTorch and NumPy calls they keep both cores busy and slow OpenBLAS by up to
    2x, which would make every ratio meaningless. OMP_WAIT_POLICY=PASSIVE (read when torch
    loads) puts them to sleep at once; PyTorch's own timings are unchanged by it here.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        return None
    return torch


def blas_report(torch=None):
    """Lines describing the BLAS kernel and thread counts NumPy (and PyTorch) use."""
    lines = []
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            lines.append(f"{pool['internal_api']:>9} {pool.get('version') or '':<14} "
                         f"arch={pool.get('architecture', '-'):<10} threads={pool['num_threads']}  "
                         f"{os.path.basename(pool['filepath'])}")
    except ImportError:
        lines.append("threadpoolctl not installed: BLAS kernel unknown")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if var in os.environ:
            lines.append(f"note: {var}={os.environ[var]} is set")
    lines.append(load_report())
    lines.append(f"cpus={os.cpu_count()}" + (f"  torch {torch.__version__} threads="
                                             f"{torch.get_num_threads()}" if torch else "  torch: not installed"))
    return lines


# Pause before each timed run. Both thread pools (PyTorch's OpenMP, NumPy's OpenBLAS) keep
# their threads spinning for a while after a call; on a 2-core machine a spinning pool steals
# the cores from the other library's next call. Measured here: without the pause, alternating
# the two inflated either side by up to 2x.
SETTLE_S = 0.2


def set_threads(n, torch=None):
    """Limit NumPy's BLAS (through threadpoolctl), minidl's own pool for elementwise passes
    (``minidl.ops._parallel``) and PyTorch to ``n`` threads each."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise SystemExit("--threads needs threadpoolctl (pip install threadpoolctl)") from None
    global _limits
    _limits = threadpool_limits(n)  # stays in force while the module holds it
    from minidl.ops import _parallel
    _parallel.THREADS = n
    if torch:
        torch.set_num_threads(n)


_limits = None


def _once(fn):
    time.sleep(SETTLE_S)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Bench:
    """Collects (name, minidl seconds, PyTorch seconds) rows; prints the environment first."""

    def __init__(self, repeat=5, warmup=1, threads=None):
        self.repeat, self.warmup = repeat, warmup
        self.torch = try_torch()
        self.rows = []
        if threads:
            set_threads(threads, self.torch)
        print("\n".join(blas_report(self.torch)))

    def compare(self, name, ours, theirs=None):
        """Time ``ours`` (and ``theirs`` if given and PyTorch is present); record and print."""
        if self.torch is None:
            theirs = None
        for _ in range(self.warmup):
            ours()
            if theirs:
                theirs()
        t_ours, t_theirs = [], []
        for _ in range(self.repeat):
            t_ours.append(_once(ours))
            if theirs:
                t_theirs.append(_once(theirs))
        row = (name, min(t_ours), min(t_theirs) if theirs else None)
        self.rows.append(row)
        print(self._format(row), flush=True)
        return row

    @staticmethod
    def _format(row):
        name, ours, theirs = row
        if theirs is None:
            return f"{name:<40} minidl {ours * 1e3:9.1f} ms"
        return (f"{name:<40} minidl {ours * 1e3:9.1f} ms   torch {theirs * 1e3:9.1f} ms   "
                f"ratio {ours / theirs:5.2f}x")

    def table(self):
        print("\nsummary (fastest of %d alternating runs; ratio = minidl / PyTorch; %s)"
              % (self.repeat, load_report()))
        for row in self.rows:
            print("  " + self._format(row))


def load_report():
    """The machine's load averages (1, 5, 15 minutes), to read timings against."""
    try:
        return "load %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load unknown"


def peak_rss_mb(module, *args):
    """Run ``python -m module *args`` in a fresh process; its peak resident memory in MiB.

    A subprocess, so that only that work's memory counts (not this process's other arrays).
    The child reads its own high-water mark from /proc (VmHWM, reset by exec); getrusage's
    ru_maxrss is not used because a child inherits the parent's peak across fork + exec.
    """
    code = (f"import runpy, sys; sys.argv = {[module, *args]!r}; "
            f"runpy.run_module({module!r}, run_name='__main__'); "
            "from bench.harness import self_peak_rss_mb; print('PEAK_MB', self_peak_rss_mb())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.rsplit("PEAK_MB", 1)[1].split()[0])


def self_peak_rss_mb():
    """Peak resident memory of this process so far, in MiB (VmHWM on Linux, else ru_maxrss)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 1024)  # macOS: bytes, Linux: kB
