"""Progress of the training loop: a tqdm bar on a terminal, periodic lines otherwise."""
import math
import sys
import time

from tqdm import tqdm


def format_duration(seconds):
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Step, loss, images/s and ETA from `first_step` to `last_step`."""

    def __init__(self, first_step, last_step, images_per_step, log_every, stream=None):
        self.stream = stream or sys.stderr
        self.first_step, self.last_step = first_step, last_step
        self.images_per_step = images_per_step
        self.log_every = log_every
        self.started = time.perf_counter()
        interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = (tqdm(total=last_step, initial=first_step, file=self.stream, unit="step",
                         dynamic_ncols=True) if interactive else None)

    def rate(self, step):
        elapsed = time.perf_counter() - self.started
        done = step - self.first_step
        return (done * self.images_per_step / elapsed if elapsed > 0 else 0.0,
                elapsed / done * (self.last_step - step) if done else float("nan"))

    def update(self, step, loss):
        images_per_second, eta = self.rate(step)
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{images_per_second:.1f}")
        elif step % self.log_every == 0 or step == self.last_step:
            self.write(f"step {step}/{self.last_step}  loss {loss:.4f}  "
                       f"{images_per_second:.1f} img/s  ETA {format_duration(eta)}")

    def write(self, line):
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()

    def elapsed(self):
        return time.perf_counter() - self.started
