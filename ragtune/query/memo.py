"""Offline query plans remembered by the content of everything that decides them.

A sweep over fusion settings (`dvc exp run -S alpha=…`) changes no plan, yet judging 19k validation questions
costs the retrieve stage seconds: scikit-learn's import, the detector's calibration, Kiwi, its predictions. The
offline plans of a question set are a pure function of the questions, the detector's settings and calibration
files, the corpus vocabulary and this code, so `PlanMemo` keeps them in a store beside the repository (like the
candidate searches, ragtune.cache.searches) under the sha256 of all of those, and answers only on an exact match.
Plans an LLM wrote are never remembered here (its answers have their own cache, ragtune.llm).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from ragtune.cache.searches import fingerprint
from ragtune.cache.stores import mark_used
from ragtune.io import atomic_write
from ragtune.query.chitchat import RESOURCES
from ragtune.query.plan import QueryPlan, plan_routed

CODE = (Path(__file__).parent, Path(__file__).parents[1] / "text")  # the planner and the analysis it calls
LIBRARIES = ("scikit-learn", "kiwipiepy")  # the detector's classifier and the analyser: their versions
Rule = dict | None  # the detector's decision rule (ChitchatDetector.rule), None when chit-chat is off


def plan_inputs(settings, seed: int, language: str, workspace) -> str:
    """The fingerprint of what a workspace's offline plans depend on besides the questions: the retrieval group's
    chit-chat and planning keys (`settings`), the seed, the corpus language, the shipped and the user's calibration
    examples, the synthetic questions (when calibration_stride uses them), the corpus vocabulary, the code."""
    keys = ("chitchat", "chitchat_threshold", "calibration_stride", "multi_query", "hyde")
    described = {key: getattr(settings, key) for key in keys} | {"seed": seed, "language": language}
    described |= {name: importlib.metadata.version(name) for name in LIBRARIES}
    files = [*CODE, *sorted(RESOURCES.glob("chitchat_*.txt")), *sorted(RESOURCES.glob("questions_*.txt"))]
    files += [workspace.chitchat_examples, workspace.morphemes]
    if settings.calibration_stride:
        files.append(workspace.train_questions)
    return fingerprint(json.dumps(described, sort_keys=True, default=str), *files)


class PlanMemo:
    """Plans and the detector's rule per question set, in `store/<key[:2]>/<key>.json`."""

    def __init__(self, store: str | Path, inputs: str):
        self.store = Path(store)
        self.inputs = inputs
        self.hits = 0

    def plans(
        self, items: Sequence[tuple[str, list[dict]]], make: Callable[[], tuple[list[QueryPlan], Rule]]
    ) -> tuple[list[QueryPlan], Rule]:
        """The remembered (plans, rule) of `items` (qid, conversation), else `make()`'s, then remembered."""
        digest = hashlib.sha256(self.inputs.encode())
        for qid, msg in items:
            digest.update(json.dumps([qid, msg], ensure_ascii=False, sort_keys=True).encode() + b"\0")
        key = digest.hexdigest()
        place = self.store / key[:2] / f"{key}.json"
        if place.is_file():
            kept = json.loads(place.read_text(encoding="utf-8"))
            self.hits += 1
            mark_used(place)  # `ragtune cache --prune` forgets what has long gone unused
            return [QueryPlan(**row) for row in kept["plans"]], kept["rule"]
        plans, rule = make()
        place.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(place) as handle:
            json.dump({"rule": rule, "plans": [plan.as_dict() for plan in plans]}, handle, ensure_ascii=False)
        return [QueryPlan(**plan.as_dict()) for plan in plans], rule  # as remembered: probabilities rounded alike


class Planner:
    """The retrieve stage's plans for one workspace: a question set's remembered offline plans, else plan_routed's
    (the chit-chat detector is calibrated at the first set not remembered). `through_llm` picks the questions an LLM
    `client` plans; a set with any of them is planned afresh (the LLM's answers have their own cache)."""

    def __init__(self, settings, seed: int, language: str, workspace, client, domain: str, store: str | Path):
        from ragtune.query import chitchat

        self.settings, self.language, self.client, self.domain = settings, language, client, domain
        self.detector = functools.cache(lambda: chitchat.workspace_detector(settings, seed, language, workspace))
        self.memo = PlanMemo(store, plan_inputs(settings, seed, language, workspace))

    def plan(self, items: Sequence[tuple[str, list[dict]]], through_llm: Callable[[str], bool]):
        def make() -> tuple[list[QueryPlan], Rule]:
            detector, vocabulary = self.detector()
            plans = plan_routed(
                items, detector, self.client, through_llm, self.settings.multi_query, self.settings.hyde, vocabulary,
                self.language, self.domain,
            )  # fmt: skip
            return plans, None if detector is None else detector.rule()

        offline = self.client is None or not any(through_llm(qid) for qid, _ in items)
        return self.memo.plans(items, make) if offline else make()
