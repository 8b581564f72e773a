"""Wall-clock timing (median after warm-up) and peak resident memory of a phase."""
import ctypes
import ctypes.util
import os
import resource
import statistics
import threading
import time

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
STATM = "/proc/self/statm"
SAMPLE_INTERVAL_S = 0.002
MIB = 2.0 ** 20


def time_calls(call, steps, warmup, alongside=None):
    """Median and all wall times (seconds) of `steps` calls after `warmup` untimed ones.

    With `alongside` {name: call}, each of those is timed just before every
    timed step too, so that a reference measured under the same load comes
    back as `times[name]` (see `peak.MatmulPeak`); `times["call"]` are the
    step's own.
    """
    if steps < 1:
        raise ValueError(f"at least one timed step is needed, got {steps}")
    for _ in range(warmup):
        call()
    alongside = alongside or {}
    times = {name: [] for name in ["call", *alongside]}
    for _ in range(steps):
        for name, other in [*alongside.items(), ("call", call)]:
            start = time.perf_counter()
            other()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["call"]), times


def measure_phase(call, steps, warmup, baseline, alongside=None):
    """{"s": median seconds, "times": {"call": ..., name: ...}, "peak_mib": peak MiB above
    `baseline`} of a phase (see `time_calls` for `alongside`).

    Freed memory is handed back first, so each phase's peak is what the
    framework holds for it, whichever phase ran before.
    """
    release_freed_memory()
    with PeakMemory(baseline) as memory:
        median, times = time_calls(call, steps, warmup, alongside)
    return {"s": median, "times": times, "peak_mib": memory.peak_bytes / MIB}


def resident_bytes():
    with open(STATM) as f:
        return int(f.read().split()[1]) * PAGE_SIZE


class PeakMemory:
    """Peak resident memory above a baseline, sampled by a background thread.

    The baseline is the resident size when a framework started building its
    network (`baseline` bytes), so the figure holds its weights, workspace
    and activations whether its allocator keeps memory between calls (TF's
    arena) or returns it (PyTorch's). The process-wide maximum (getrusage)
    only ever grows, so a framework measured after a bigger one would read
    as free; sampling the current resident size avoids that. Where /proc is
    missing, the getrusage maximum's growth over the phase is the fallback.
    """

    def __init__(self, baseline=None):
        self.sampled = os.path.exists(STATM)
        self.baseline = baseline
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = None
        self._start = 0

    def __enter__(self):
        if self.sampled:
            self._peak = resident_bytes()
            self._start = self._peak if self.baseline is None else self.baseline
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        else:
            self._start = max_rss_bytes()
        return self

    def _sample(self):
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self._peak = max(self._peak, resident_bytes())

    def __exit__(self, *exc):
        if self.sampled:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, resident_bytes())
            self.peak_bytes = self._peak - self._start
        else:
            self.peak_bytes = max_rss_bytes() - self._start

    @property
    def method(self):
        return "sampled RSS" if self.sampled else "max RSS growth"


def max_rss_bytes():
    # Linux reports kilobytes, macOS bytes.
    scale = 1 if os.uname().sysname == "Darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def release_freed_memory():
    """Return the memory the C allocator keeps after frees to the system (glibc's malloc_trim).

    Freed heap pages stay resident; without this, garbage left by loading
    weights would read as a phase's memory, and a later allocation reusing
    it as free. Elsewhere a no-op.
    """
    libc = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    if trim is not None:
        trim(0)

