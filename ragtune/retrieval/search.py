"""One question against a finished workspace: the retrieve stage's final ranking, for `ragtune search`.

`WorkspaceSearch(root)` reads params.yaml (typed), the corpus and the indexes once, and answers
`.search(query, top)` with the plan the retrieve stage follows for an eval question without an LLM: the
offline standalone query of a one-turn conversation, the calibrated chit-chat detector (chit-chat → no
results), the lexical runs (weighted as in the stage) fused with the fine-tuned dense run by `alpha` (or RRF),
and the tuned cross-encoder over the fused top `retrieval.rerank_top` when `reranker` is configured. What the
stage only reports (`dense_base`, `rerank_base`, ColBERT) is left out: it never changes the final ranking, and
skipping it loads no model the answer does not need. Every searcher is built once, at the first search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from ragtune.config.paths import Workspace
from ragtune.config.schema import Params, load
from ragtune.io import UserError, read_json, read_jsonl
from ragtune.retrieval.searchers import Searchers

SNIPPET_CHARS = 160
TRAIL_SEPARATOR = " > "


class WorkspaceMissing(UserError):
    """The workspace has not been built (no indexes yet)."""


@dataclass(frozen=True)
class Result:
    docid: str
    source: str  # the document's file (folder collections) or `src` label
    title: str  # title (folder collections), else ""
    score: float  # the final ranking's score (fused, or the reranker's position score)
    text: str  # the passage as indexed
    headings: tuple[str, ...] = ()  # the heading trail above the passage, outermost first

    def as_json(self) -> dict:
        """The `--json` shape: docid, source, title, score, text."""
        values = asdict(self)
        del values["headings"]
        return values

    @property
    def heading(self) -> str:
        """Title > heading > subheading (a heading that repeats the title said once)."""
        return TRAIL_SEPARATOR.join(t for t in dict.fromkeys([self.title, *self.headings]) if t)

    def snippet(self, limit: int = SNIPPET_CHARS) -> str:
        """The text on one line, without the heading trail it may start with, cut at `limit` characters."""
        text, trail = self.text, self.heading
        if trail and text.startswith(trail):
            text = text[len(trail) :]
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def passage_row(document: dict) -> dict:
    """A prepared document (`docid, src, content`, optionally `title, headings, start, end`) as what a reader
    of the results needs: docid, source, title, text (and the heading trail)."""
    return {
        "docid": document["docid"],
        "source": document.get("src", ""),
        "title": document.get("title") or "",
        "text": document["content"],
        "headings": tuple(document.get("headings") or ()),
    }


def read_params(root: Path) -> Params:
    """params.yaml of the workspace at `root`, typed (ParamsError on a bad key)."""
    path = Path(root) / "params.yaml"
    if not path.is_file():
        raise WorkspaceMissing(f"no params.yaml in {root}: run `ragtune params`, then `dvc repro`")
    with open(path, encoding="utf-8") as handle:
        return load(yaml.safe_load(handle) or {}, source=str(path))


def require_built(root: Path) -> Workspace:
    ws = Workspace(Path(root))
    if not ws.indexes.is_dir():
        raise WorkspaceMissing("run `dvc repro` first (indexes/ is missing)")
    if not ws.documents.is_file():
        raise WorkspaceMissing(f"run `dvc repro` first ({ws.documents.relative_to(ws.root)} is missing)")
    return ws


class _SharedEncoders(Searchers):
    """Searchers whose searchers share one encoder per model (BGE-M3's dense and learned sparse searchers would
    otherwise each load the fine-tuned model), without the memo keys of the dense models (nothing is remembered
    here, and a key hashes the model's every byte)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._encoders = {}

    def embedder(self, name: str):
        if name not in self._encoders:
            self._encoders[name] = super().embedder(name)
        return self._encoders[name]

    def _encoder_key(self, index: str, model_dir: str) -> str:
        return ""

    _paired = None  # one query searched with the fine-tuned model alone: the base is neither loaded nor paired


class WorkspaceSearch:
    """The final retrieval of the workspace at `root`, one query at a time. The chit-chat detector is fitted at
    the first search, the searchers and models are loaded at the first one that needs them (a chit-chat query
    loads none), once each."""

    def __init__(self, root: str | Path = ".", workers: int = 1):
        self.ws = require_built(root)
        self.root = self.ws.root
        self.p = read_params(self.root)
        documents = read_jsonl(self.ws.documents)
        self.docids = [d["docid"] for d in documents]
        self.passages = {d["docid"]: passage_row(d) for d in documents}
        self._documents, self._workers = documents, workers
        self._detector = self._searchers = self._vocabulary = None
        collection = self.ws.collection
        self.language = read_json(collection)["language"] if collection.is_file() else "ko"

    @property
    def depth(self) -> int:
        return self.p.retrieval.candidates

    def detector(self):
        """The retrieve stage's chit-chat detector (shipped calibration, plus every `calibration_stride`-th
        synthetic question when the stage used them)."""
        if self._detector is None:
            from ragtune.query import chitchat

            self._detector, self._vocabulary = chitchat.workspace_detector(
                self.p.retrieval, self.p.seed, self.language, self.ws
            )
        return self._detector

    def searchers(self) -> tuple[dict, dict, dict, object, dict]:
        """(lexical searchers, their weights, the fused dense searcher, fusion settings, the final reranker)."""
        if self._searchers is None:
            from ragtune.models.hub import resolve_model
            from ragtune.retrieval.pipeline import RetrievalSettings
            from ragtune.retrieval.searchers import DENSE_MODELS, cross_encoders

            p = self.p
            built = _SharedEncoders(self.root, p, self.docids, self._workers, self.language)
            lexical, weights = built.lexical()
            fused = next(iter(DENSE_MODELS))  # the fine-tuned embedder; dense_base is only reported
            fusion = RetrievalSettings.from_fusion(p.fusion, candidates=self.depth, rerank_top=p.retrieval.rerank_top)
            # the tuned cross-encoder only (finetune=False: rerank_base, which the stage reports, is not loaded)
            final = p.reranker.model_copy(update={"finetune": False})
            locate: Callable[[str], str] = lambda d: resolve_model(self.root / d, "reranker.path")  # noqa: E731
            self._searchers = (
                {name: make() for name, (_, make) in lexical.items()},
                weights,
                {fused: built.dense_searcher(fused)},
                fusion,
                cross_encoders(final, self._documents, locate),
            )
        return self._searchers

    def load(self) -> WorkspaceSearch:
        """Fit the detector and load every searcher and model now (otherwise at the first search)."""
        self.detector(), self.searchers()
        return self

    def plan(self, query: str):
        """The retrieve stage's offline plan of a one-turn conversation (ragtune.query.plan.QueryPlan)."""
        from ragtune.query.plan import plan_queries

        detector = self.detector()
        conversation = [("q", [{"role": "user", "content": query}])]
        return plan_queries(conversation, detector, vocabulary=self._vocabulary, language=self.language)[0]

    def search(self, query: str, top: int = 5) -> list[Result]:
        """The best `top` passages for `query` (at most `retrieval.candidates`); [] for chit-chat or an empty query."""
        from ragtune.retrieval.pipeline import retrieve

        if not query.strip():
            return []
        plan = self.plan(query)
        if plan.chitchat:
            return []
        sparse, weights, dense, fusion, rerankers = self.searchers()
        runs = retrieve(
            {plan.qid: plan.variants}, [plan.qid], self.docids, sparse, dense, fusion,
            rerankers=rerankers, sparse_weights=weights,
        )  # fmt: skip
        final = runs["hybrid"]
        found = [(i, s) for i, s in zip(final.ids[0, :top], final.scores[0, :top]) if i >= 0]
        return [Result(**self.passages[self.docids[i]], score=float(score)) for i, score in found]

    def dense_only(self, query: str, top: int = 5) -> list[str]:
        """Docids of the fine-tuned dense run alone for the query as given (no plan, no fusion): what the exported
        embedder and FAISS index answer."""
        dense = self.searchers()[2]
        ids, scores = next(iter(dense.values()))([query], top)
        order = sorted(((s, i) for i, s in zip(ids[0], scores[0]) if i >= 0), key=lambda t: -t[0])
        return [self.docids[i] for _, i in order]


def format_results(results: list[Result], limit: int = SNIPPET_CHARS) -> str:
    """One line per result: rank, score, source, heading and a snippet."""
    if not results:
        return "no results (judged chit-chat, or nothing matched)"
    lines = []
    for rank, result in enumerate(results, 1):
        where = result.source + (f" | {result.heading}" if result.heading else "")
        lines.append(f"{rank:>2}. {result.score:8.4f}  {where}  {result.snippet(limit)}")
    return "\n".join(lines)
