"""The declared objective (`tune.objective`): one number read from metrics/retrieval.json, the figure
`ragtune tune` maximises and the evaluate stage reports in metrics/objective.json.

A spec is either a dotted key into the metrics, `<source>.<retriever>.<metric>`
(`conversational.hybrid.map@3`), or `mean:<retriever>.<metric>`: the mean of that figure over every
validation source present (`sample` on the shipped data; `dev` and `conversational` on the
competition's), so one default serves both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ragtune.io import DataError

DEFAULT = "mean:hybrid.map@3"
MEAN = "mean:"


class ObjectiveError(DataError):
    """The objective names a figure the metrics do not hold (the message lists the ones they do)."""

    def __init__(self, spec: str, message: str):
        super().__init__("tune.objective", f"{spec!r}: {message}")


def objective(metrics: Mapping[str, Any], spec: str) -> float:
    """The value of `spec` (a dotted key, or `mean:<retriever>.<metric>` over the sources) in `metrics`."""
    spec = spec.strip()
    if spec.startswith(MEAN):
        rest = spec.removeprefix(MEAN)
        if not rest:
            raise ObjectiveError(spec, "mean: needs a key below the sources, e.g. mean:hybrid.map@3")
        sources = sorted(name for name, section in metrics.items() if isinstance(section, Mapping))
        if not sources:
            raise ObjectiveError(spec, "the metrics hold no validation source")
        return sum(_lookup(metrics, f"{source}.{rest}", spec) for source in sources) / len(sources)
    return _lookup(metrics, spec, spec)


def _lookup(metrics: Mapping[str, Any], key: str, spec: str) -> float:
    node: Any = metrics
    for part in _split(key):
        if not isinstance(node, Mapping) or part not in node:
            raise ObjectiveError(spec, f"no {key!r} in the metrics; available: {_shown(metrics)}")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise ObjectiveError(spec, f"{key!r} is not a number; available: {_shown(metrics)}")
    return float(node)


def _split(key: str) -> list[str]:
    """Dotted parts (metric names hold no dots: map@3, mrr@10)."""
    parts = key.split(".")
    if not all(parts):
        raise ObjectiveError(key, "an empty part in the key (expected <source>.<retriever>.<metric>)")
    return parts


def keys(metrics: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every dotted key of a number in `metrics`."""
    for name, value in metrics.items():
        if isinstance(value, Mapping):
            yield from keys(value, f"{prefix}{name}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f"{prefix}{name}"


def _shown(metrics: Mapping[str, Any], limit: int = 12) -> str:
    found = [key for key in keys(metrics) if ".chitchat." not in f".{key}"]
    text = ", ".join(found[:limit]) + (f" … ({len(found)} in all)" if len(found) > limit else "")
    return text or "none"
