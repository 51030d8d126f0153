"""The one way ragtune writes a chart: a bare matplotlib Figure (Agg canvas, no pyplot state) saved as PNG
atomically, without the Software/date metadata, so identical inputs give identical bytes (a rerun leaves a
tracked picture unchanged). `Painter` draws them in a second process while the caller goes on computing."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from ragtune.io import atomic_write


def save_png(figure, path: str | os.PathLike) -> None:
    """Write `figure` (a matplotlib Figure) to `path`; no "Software" entry (it names the matplotlib version), and
    Agg's PNG carries no date."""
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100, metadata={"Software": None})


class Painter:
    """Charts drawn by one worker process beside the caller: matplotlib's import and the drawing (evaluate: about
    1.5 s of its 3 s over 19k questions) then overlap the caller's own work on a second core. The pictures are
    the ones the same functions draw in process, byte for byte.

        with Painter() as painter:
            painter.draw(report.plot_recall_curves, curves, path)  # a module-level function and picklable arguments

    Leaving the block waits for every picture and raises the first error a drawing raised. The worker ignores
    Ctrl-C: the caller's interruption ends the block, which lets a picture being written finish (atomically)."""

    def __init__(self) -> None:
        import multiprocessing

        # forkserver: a clean interpreter, not a copy of the caller's threads and memory (fork's hazards); spawn where
        # the platform has no forkserver (Windows)
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(method), initializer=_ready)
        with _main_script_hidden():  # the worker starts here, at the first submit
            self._drawings: list[Future] = [self._pool.submit(_warm)]  # matplotlib loads while the caller computes

    def draw(self, function: Callable[..., None], *args, **kwargs) -> None:
        self._drawings.append(self._pool.submit(function, *args, **kwargs))

    def __enter__(self) -> Painter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            if kind is None:
                for drawing in self._drawings:
                    drawing.result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=kind is not None)


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """A new process started in this block does not import the caller's script first, as multiprocessing does to
    find functions defined there (a stage's script imports its settings and libraries: a quarter of a second
    before the worker can load matplotlib). Drawings are functions of importable modules, never of the script."""
    main = sys.modules["__main__"]
    script = main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        if script is not None:
            main.__file__ = script


def _ready() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _warm() -> None:
    import matplotlib.figure  # noqa: F401
