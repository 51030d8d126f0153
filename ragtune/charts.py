"""The one way ragtune writes a chart: a bare matplotlib Figure (Agg canvas, no pyplot state) saved as PNG
atomically, without the Software/date metadata, so identical inputs give identical bytes (a rerun leaves a
tracked picture unchanged)."""

from __future__ import annotations

import os

from ragtune.io import atomic_write


def save_png(figure, path: str | os.PathLike) -> None:
    """Write `figure` (a matplotlib Figure) to `path`; no "Software" entry (it names the matplotlib version), and
    Agg's PNG carries no date."""
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100, metadata={"Software": None})
