"""SIGTERM/SIGINT during training: remember the request; the loop saves and returns."""
import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """Context manager installing handlers that only set a flag (nothing unsafe in a handler).

    A second signal of the same kind while a stop is pending restores the
    previous behaviour, so an impatient Ctrl-C twice still ends the process.
    """

    def __init__(self):
        self.signum = None
        self._previous = {}

    def __bool__(self):
        return self.signum is not None

    def _handle(self, signum, frame):
        if self.signum is not None:
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            signal.raise_signal(signum)
            return
        self.signum = signum

    def __enter__(self):
        # Handlers can only be installed from the main thread; elsewhere the
        # embedding program keeps its own signal handling.
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        return False
