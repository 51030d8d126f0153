"""Every stage artifact's path, named once. dvc.yaml declares the same paths as the stages' deps and outs;
stage scripts and library helpers ask this class instead of repeating literals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    """The artifact paths of a pipeline checkout rooted at `root`."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def __truediv__(self, relative: str) -> Path:
        return self.root / relative

    # prepare
    @property
    def prepared(self) -> Path:
        return self.root / "data/prepared"

    @property
    def documents(self) -> Path:
        return self.prepared / "documents.jsonl"

    @property
    def morphemes(self) -> Path:
        return self.prepared / "morphemes.jsonl"

    @property
    def collection(self) -> Path:
        """What prepare learnt about the collection: its language (analyzers and generators follow it)."""
        return self.prepared / "collection.json"

    @property
    def questions(self) -> Path:
        return self.prepared / "questions.jsonl"

    @property
    def labelled(self) -> Path:
        return self.prepared / "labelled.jsonl"

    # queries
    @property
    def train_questions(self) -> Path:
        return self.root / "data/queries/train.jsonl"

    @property
    def validation(self) -> Path:
        return self.root / "data/queries/validation.jsonl"

    @property
    def queries_llm_cache(self) -> Path:
        return self.root / "data/queries/llm_cache.jsonl"

    # negatives
    @property
    def training_file(self) -> Path:
        return self.root / "data/negatives/train.jsonl"

    # base, train
    @property
    def base_model(self) -> Path:
        return self.root / "models/base"

    @property
    def embedder(self) -> Path:
        return self.root / "models/embedder"

    @property
    def reranker_base(self) -> Path:
        return self.root / "models/reranker_base"

    @property
    def reranker(self) -> Path:
        return self.root / "models/reranker"

    @property
    def encodings(self) -> Path:
        """Remembered passage vectors, shared by train's selection and index (ragtune.cache.encodings)."""
        return self.root / "models/.encodings"

    # index
    @property
    def indexes(self) -> Path:
        return self.root / "indexes"

    # retrieve
    def runs(self, split: str) -> Path:
        return self.root / "runs" / split

    def chitchat_rule(self, split: str) -> Path:
        """The chit-chat detector's decision rule the plans of `split` were made with (null: detection off)."""
        return self.runs(split) / "chitchat.json"

    @property
    def retrieve_llm_cache(self) -> Path:
        return self.root / "runs/llm_cache.jsonl"

    @property
    def chitchat_examples(self) -> Path:
        """A team's own chit-chat and question examples, added to the shipped calibration (README)."""
        return self.root / "data/chitchat"

    @property
    def candidates(self) -> Path:
        return self.root / "runs/candidates"

    # evaluate, submit
    @property
    def failure_report(self) -> Path:
        return self.root / "reports/failures.md"

    @property
    def submission(self) -> Path:
        return self.root / "submissions/submission.csv"

    def metrics(self, stage: str) -> Path:
        return self.root / "metrics" / f"{stage}.json"

    def plots(self, relative: str) -> Path:
        return self.root / "plots" / relative
