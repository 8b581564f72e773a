"""Wall-clock timing (median after warm-up) and peak resident memory of a phase."""
import os
import resource
import statistics
import threading
import time

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
STATM = "/proc/self/statm"
SAMPLE_INTERVAL_S = 0.002


def time_calls(call, steps, warmup):
    """Median and all wall times (seconds) of `steps` calls after `warmup` untimed ones."""
    if steps < 1:
        raise ValueError(f"at least one timed step is needed, got {steps}")
    for _ in range(warmup):
        call()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


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
