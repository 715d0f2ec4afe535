"""Signals during a run: SIGINT/SIGTERM finish the current compiled call, save a checkpoint and stop the run
(`Stopped` for a Python caller); a second signal while a checkpoint is being written waits for it."""

from __future__ import annotations

import contextlib
import signal


def interrupt(signum, frame):
    """The handler for SIGTERM during a run's start-up, or for a signal once training has ended (the curves,
    the report): unwind like Ctrl-C (`Interrupted`), so that a start leaves nothing behind and a finished
    run says so.

    Args:
      signum: the signal. frame: unused.

    Returns:
      Never; raises `Interrupted`.

    >>> try:
    ...     interrupt(15, None)
    ... except Interrupted as e:
    ...     print("unwinds with", e.signum)
    unwinds with 15
    """
    raise Interrupted(signum)


def main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class Signals:
    """Turns the first SIGINT/SIGTERM into a request to stop after the current call; a second one stops at
    once, except during a checkpoint save (`saving()`), which it lets finish first."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}
        self._saving = self._urgent = False

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum
            print(f"\n{signal.Signals(signum).name}: saving a checkpoint after this step, then stopping (a second "
                  "Ctrl-C stops at once, losing the steps since the last checkpoint)", flush=True)
        elif self._saving:
            self._urgent = True
            print("\nstopping as soon as the checkpoint being written is complete", flush=True)
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def saving(self):
        """A checkpoint save that a second signal does not cut short (it stops the run right after).

        Returns:
          A context manager.

        >>> # with signals.saving(): checkpoints.save(step, state)
        """
        self._saving = True
        try:
            yield
        finally:
            self._saving = False
        if self._urgent:
            raise KeyboardInterrupt

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM after training ended, while the run writes its curves and report: the final
    checkpoint is saved, and `--resume` writes what was cut short. `signum` is the signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Stopped(Interrupted):
    """`fit` was stopped by SIGINT/SIGTERM during training: a checkpoint of the step it reached is saved
    (`outcome.step`), and `fit(..., resume=True)` continues the run. `outcome` is the `Outcome`."""

    def __init__(self, outcome):
        super().__init__(outcome.signum)
        self.outcome = outcome
        self.args = (f"{signal.Signals(outcome.signum).name}: training stopped at step {outcome.step} with a "
                     f"checkpoint in {outcome.run_dir}; fit(..., resume=True) continues it",)


@contextlib.contextmanager
def interruptible():
    """SIGINT/SIGTERM raise `Interrupted` inside the block (SIGTERM's default action would end the process
    without a word); the loop's own `Signals` takes over while it trains. Only in the main thread."""
    if not main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
