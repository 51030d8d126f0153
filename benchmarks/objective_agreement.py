"""Does the declared objective rank retrieval settings the same way on two halves of the validation questions?

From a finished workspace (`dvc repro`, e.g. on data=competition), the hybrid ranking is formed again in this
process for each setting by ragtune's own pass (`ragtune.retrieval.pipeline.retrieve`: the lexical side's weighted
sum, then hybrid or RRF fusion), with searchers that answer from the remembered candidate searches
(runs/candidates/validation/<retriever>/, `ragtune.cache.searches.SearchMemo`) and the stage's own plans
(runs/validation/queries.jsonl: query variants, chit-chat decisions). A self-check first: at the workspace's
params.yaml the ranking must equal runs/validation/hybrid, else nothing is measured. Nothing is written.

1. Sweeps, one parameter at a time around the workspace's parameters: alpha, retrieval.char_weight,
   retrieval.candidates (the remembered candidates cut to fewer: a shallower search keeps the same best ones,
   equal scores at the cut aside) and the fusion (hybrid, or RRF with a few rrf_k). Per setting: map@3 (the
   competition rule, ragtune.evaluation.metrics) per source and conversational kind, and the objective
   (`tune.objective`, ragtune.evaluation.objective).
2. Agreement: --splits seeded random halves of each source's questions (stratified by kind); per sweep, the
   Spearman correlation between the settings' values on half A and on half B (mean, 10th percentile), and the
   regret of choosing on A: best value on B minus B's value of A's best (mean, max; 0 = no loss), for the
   objective and for each source alone.
3. Search on the same budget: Optuna's TPE sampler (as `ragtune tune` seeds it; default startup: its first 10
   trials are random) against a grid of as many points over alpha in [0.3, 0.9] x retrieval.char_weight in [0, 1],
   tuned on one half, read on the other, over --search-repeats splits and seeds. The real `ragtune tune` runs each
   trial as a `dvc exp run` experiment (ragtune.release.tuning); only its ask/tell loop and sampler run here.

Never the eval questions: runs/validation and data/queries/validation.jsonl only.

Usage: python benchmarks/objective_agreement.py --workspace DIR [--splits 50] [--search-repeats 10]
         [--budgets 9 16] [--objective SPEC]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import optuna
import yaml
from scipy.stats import spearmanr

from ragtune.config import Workspace, schema
from ragtune.evaluation import metrics
from ragtune.evaluation.objective import objective
from ragtune.io import DataError, UserError, read_json, read_jsonl
from ragtune.release.tuning import parse_space
from ragtune.retrieval.pipeline import RetrievalSettings, retrieve
from ragtune.retrieval.searchers import DENSE_MODELS, Searchers
from ragtune.runs import RankedRun

SEARCH_SPACE = ("alpha=float(0.3,0.9)", "retrieval.char_weight=float(0,1)")  # as `ragtune tune` words it
KINDS = ("single", "multi-turn", "chitchat")
DENSE = next(iter(DENSE_MODELS))  # the dense run that takes part in fusion (the others are only reported)
Setting = tuple[tuple[str, object], ...]  # (dotted key, value) overrides of params.yaml, as `dvc exp run -S`


class Validation:
    """The workspace's validation questions, plans and remembered candidates; `values(setting)` forms the hybrid
    ranking under a setting and scores it per question."""

    def __init__(self, root: Path, spec: str | None = None):
        self.ws = Workspace(root)
        self.raw = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
        self.params = schema.load(self.raw, str(root / "params.yaml"))
        self.spec = spec or self.params.tune.objective  # the declared objective, on the hybrid run
        self.metric = self.spec.rsplit(".", 1)[-1]
        if self.params.retrieval.rerank_top > 0 and self.params.reranker.name != "none":
            raise DataError(root / "params.yaml", "a reranker is on: its scores are not remembered, use rerank_top=0")
        self.docids = [d["docid"] for d in read_jsonl(self.ws.documents)]
        self.language = read_json(self.ws.collection)["language"]
        plans = read_jsonl(self.ws.runs("validation") / "queries.jsonl")
        self.qids = [plan["qid"] for plan in plans]
        self.variants = {plan["qid"]: plan["variants"] for plan in plans if not plan["chitchat"]}
        rows = {q["qid"]: q for q in read_jsonl(self.ws.validation)}
        if set(rows) != set(self.qids):
            raise DataError(self.ws.validation, "other questions than runs/validation/queries.jsonl (rerun retrieve)")
        self.qrels = {qid: rows[qid]["relevant"] for qid in self.qids}
        self.source = np.array([rows[qid]["source"] for qid in self.qids])
        self.stratum = np.array([f"{rows[qid]['source']}/{rows[qid].get('kind', '')}" for qid in self.qids])
        self.sources = sorted(map(str, set(self.source)))
        self.memo = {name: self._remembered(name) for name in (*self._lexical_weights(self.params), DENSE)}
        starts = np.cumsum([0, *(len(texts) for texts in self.variants.values())])
        self.text_rows = {qid: range(a, b) for qid, a, b in zip(self.variants, starts[:-1], starts[1:])}
        self.depth = min(run.depth for run in self.memo.values())
        self._values: dict[str, np.ndarray] = {}  # by the settings the ranking depends on

    def _remembered(self, name: str) -> RankedRun:
        place = self.ws.candidates / "validation" / name
        if not (place / "ids.npy").is_file():
            raise DataError(place, "no remembered candidate search (run `dvc repro` in the workspace)")
        ids, scores = np.load(place / "ids.npy"), np.load(place / "scores.npy")
        texts = sum(len(v) for v in self.variants.values())
        if len(ids) != texts:
            raise DataError(place / "ids.npy", f"{len(ids)} rows for {texts} query texts (rerun retrieve)")
        # in ragtune's ranking order, so a shallower search is a cut of it
        return RankedRun.ranked([str(i) for i in range(len(ids))], self.docids, ids, scores)

    def _lexical_weights(self, p) -> dict[str, float]:
        """The lexical side's runs and weights, by the rule the retrieve stage uses."""
        return Searchers(self.ws.root, p, self.docids, language=self.language).lexical()[1]

    def _searcher(self, name: str, qids: Sequence[str]) -> Callable[[Sequence[str], int], tuple[np.ndarray, ...]]:
        """Answers the query texts of `qids` (in order) from the remembered run, cut to the depth asked."""
        run, rows = self.memo[name], [row for qid in qids for row in self.text_rows.get(qid, ())]
        return lambda texts, k: (run.ids[rows, :k], run.scores[rows, :k])

    def params_for(self, setting: Setting):
        raw = yaml.safe_load(yaml.safe_dump(self.raw))
        for key, value in setting:
            *parents, last = key.split(".")
            node = raw
            for part in parents:
                node = node[part]
            node[last] = value
        return schema.load(raw, f"setting {dict(setting)}")

    def hybrid(self, setting: Setting = (), qids: Sequence[str] | None = None) -> RankedRun:
        """The final ranking of the questions `qids` (default: all) under `setting`, by the retrieve stage's pass."""
        p, qids = self.params_for(setting), self.qids if qids is None else list(qids)
        if p.retrieval.candidates > self.depth:
            raise DataError(self.ws.candidates, f"remembered to depth {self.depth}, not {p.retrieval.candidates}")
        weights = self._lexical_weights(p)
        fusion = RetrievalSettings.from_fusion(p.fusion, candidates=p.retrieval.candidates, rerank_top=0)
        sparse = {name: self._searcher(name, qids) for name in weights}
        variants = {qid: self.variants[qid] for qid in qids if qid in self.variants}
        runs = retrieve(
            variants, qids, self.docids, sparse, {DENSE: self._searcher(DENSE, qids)}, fusion,
            sparse_weights=weights,
        )  # fmt: skip
        return runs["hybrid"]

    def key(self, setting: Setting) -> str:
        """What the ranking depends on (so alpha=0.7 and char_weight=0.4 around alpha 0.7, 0.4 rank once)."""
        p = self.params_for(setting)
        return f"{p.fusion.model_dump_json()} {p.retrieval.candidates} {self._lexical_weights(p)}"

    def values(self, setting: Setting, mask: np.ndarray | None = None) -> np.ndarray:
        """The metric per question, in `qids` order (NaN where the metric leaves a question out, and outside
        `mask`: only those questions are ranked; remembered for the whole set)."""
        key = self.key(setting)
        if mask is None and key in self._values:
            return self._values[key]
        qids = self.qids if mask is None else [qid for qid, kept in zip(self.qids, mask) if kept]
        scores = metrics.per_query(self.hybrid(setting, qids), {q: self.qrels[q] for q in qids}, self.metric)
        values = np.array([scores.get(qid, math.nan) for qid in self.qids])
        if mask is None:
            self._values[key] = values
        return values


def self_check(data: Validation) -> bool:
    shipped = RankedRun.load(data.ws.runs("validation") / "hybrid")
    again = data.hybrid()
    same = shipped.qids == again.qids and shipped.docids == again.docids
    same = same and np.array_equal(shipped.ids, again.ids[:, : shipped.depth])
    print(f"self-check: hybrid at the workspace's params.yaml {'equals' if same else 'DIFFERS FROM'} runs/validation")
    return same


def sweeps(p, depth: int) -> dict[str, list[Setting]]:
    """One parameter at a time around the workspace's values (which each sweep includes)."""
    alphas = sorted({round(a, 1) for a in np.arange(0.1, 0.95, 0.1)} | {p.alpha})
    weights = sorted({0.0, 0.25, 0.5, 0.75, 1.0, p.retrieval.char_weight})
    depths = sorted({c for c in (25, 50, 100, 200, p.retrieval.candidates) if c <= depth})
    fusions = [(("retrieval.fusion", "hybrid"),)] + [
        (("retrieval.fusion", "rrf"), ("rrf_k", k)) for k in sorted({10, 30, 60, 100, int(p.rrf_k)})
    ]
    return {
        "alpha": [(("alpha", a),) for a in alphas],
        "char_weight": [(("retrieval.char_weight", w),) for w in weights],
        "candidates": [(("retrieval.candidates", c),) for c in depths],
        "fusion": fusions,
    }


def measures(data: Validation) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    """name -> f(per-question values, question mask): the objective, and each source's mean alone."""

    def source_mean(values, mask, source):
        return float(np.nanmean(values[mask & (data.source == source)]))

    def declared(values, mask):
        figures = {s: {"hybrid": {data.metric: source_mean(values, mask, s)}} for s in data.sources}
        return objective(figures, data.spec)

    found = {"objective": declared}
    for source in data.sources:
        found[source] = lambda values, mask, s=source: source_mean(values, mask, s)
    return found


def halves(stratum: np.ndarray, seed: int) -> np.ndarray:
    """A random half of the questions of each stratum (source and kind): the mask of half A."""
    rng, half = np.random.default_rng(seed), np.zeros(len(stratum), bool)
    for group in sorted(set(stratum)):
        members = rng.permutation(np.flatnonzero(stratum == group))
        half[members[: len(members) // 2]] = True
    return half


def agreement(table: np.ndarray, masks: list[np.ndarray], measure) -> tuple[float, float, float, float]:
    """Over the splits: Spearman of the settings' values on A and B (mean, 10th percentile), the regret of
    choosing on A (mean, max)."""
    rhos, regrets = [], []
    for mask in masks:
        on_a = np.array([measure(row, mask) for row in table])
        on_b = np.array([measure(row, ~mask) for row in table])
        rhos.append(spearmanr(on_a, on_b).statistic if np.ptp(on_a) and np.ptp(on_b) else math.nan)
        regrets.append(on_b.max() - on_b[int(np.argmax(on_a))])
    return float(np.nanmean(rhos)), float(np.nanpercentile(rhos, 10)), float(np.mean(regrets)), float(max(regrets))


def grid(budget: int) -> list[Setting]:
    side = math.isqrt(budget)
    if side * side != budget:
        raise DataError("--budgets", f"{budget} is not a square (a side x side grid)")
    return [
        (("alpha", round(float(a), 4)), ("retrieval.char_weight", round(float(w), 4)))
        for a in np.linspace(0.3, 0.9, side)
        for w in np.linspace(0.0, 1.0, side)
    ]


def tpe(data: Validation, measure, mask: np.ndarray, budget: int, seed: int) -> tuple[Setting, float]:
    """The `ragtune tune` loop in process: TPE asks, each setting is scored on half A (only its questions
    ranked), told; returns the best setting and its value on A."""
    spaces = [parse_space(word) for word in SEARCH_SPACE]
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    for _ in range(budget):
        trial = study.ask()
        study.tell(trial, measure(data.values(tuple((s.key, s.suggest(trial)) for s in spaces), mask), mask))
    return tuple((s.key, study.best_params[s.key]) for s in spaces), study.best_value


def grid_best(data: Validation, measure, mask: np.ndarray, budget: int) -> tuple[Setting, float]:
    points = grid(budget)
    on_a = [measure(data.values(point), mask) for point in points]
    return points[int(np.argmax(on_a))], max(on_a)


def label(setting: Setting) -> str:
    return " ".join(f"{key.removeprefix('retrieval.')}={value}" for key, value in setting) or "workspace"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True, help="a finished workspace (read only)")
    parser.add_argument("--splits", type=int, default=50, help="random halves for the agreement")
    parser.add_argument("--search-repeats", type=int, default=10, help="halves (and TPE seeds) for the search")
    parser.add_argument("--budgets", type=int, nargs="+", default=[9, 16], help="trials per search (squares)")
    parser.add_argument("--objective", help="a tune.objective spec on hybrid (default: the workspace's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        run(args)
    except UserError as error:
        raise SystemExit(str(error)) from None


def run(args) -> None:
    data = Validation(args.workspace, args.objective)
    if not self_check(data):
        raise SystemExit(1)
    p, named = data.params, measures(data)
    declared = named["objective"]
    everyone = np.ones(len(data.qids), bool)
    print(f"objective {data.spec}; {len(data.qids)} questions: " + ", ".join(
        f"{s} {int((data.source == s).sum())}" for s in data.sources
    ))  # fmt: skip

    groups = [(s, data.source == s) for s in data.sources]
    groups += [(k, np.char.endswith(data.stratum, f"/{k}")) for k in KINDS]
    groups = [(name, mask) for name, mask in groups if mask.any()]
    header = f"{'setting':<28}" + "".join(f"{name:>15}" for name, _ in groups) + f"{'objective':>11}"
    plan = sweeps(p, data.depth)
    for sweep, settings in plan.items():
        print(f"\nsweep {sweep} (full validation set; {data.metric} per source and kind; * the workspace's)\n{header}")
        for setting in settings:
            values = data.values(setting)
            cells = "".join(f"{np.nanmean(values[mask]):>15.4f}" for _, mask in groups)
            shown = label(setting) + (" *" if data.key(setting) == data.key(()) else "")
            print(f"{shown:<28}{cells}{declared(values, everyone):>11.4f}")

    masks = [halves(data.stratum, args.seed + r) for r in range(args.splits)]
    print(f"\nagreement over {args.splits} random halves (Spearman A vs B; regret = best on B - B's value of A's best)")
    print(f"{'sweep':<12}{'measure':<16}{'settings':>9}{'rho mean':>10}{'rho p10':>9}{'regret mean':>13}{'max':>8}")
    for sweep, settings in plan.items():
        table = np.array([data.values(s) for s in settings])
        for name, measure in named.items():
            rho, p10, regret, worst = agreement(table, masks, measure)
            print(f"{sweep:<12}{name:<16}{len(settings):>9}{rho:>10.3f}{p10:>9.3f}{regret:>13.4f}{worst:>8.4f}")

    print(f"\nsearch over {' x '.join(SEARCH_SPACE)}: tuned on half A, read on half B ({args.search_repeats} repeats)")
    print("(TPE as `ragtune tune` seeds it: Optuna's default n_startup_trials=10, so its first 10 trials are random)")
    print(f"{'budget':>6}  {'sampler':<8}{'best on A':>18}{'its value on B':>20}{'on all':>18}")
    for budget in args.budgets:
        for sampler in ("grid", "tpe"):
            found = []
            for r in range(args.search_repeats):
                mask = masks[r] if r < len(masks) else halves(data.stratum, args.seed + r)
                if sampler == "grid":
                    best, on_a = grid_best(data, declared, mask, budget)
                else:
                    best, on_a = tpe(data, declared, mask, budget, args.seed + r)
                found.append((on_a, declared(data.values(best), ~mask), declared(data.values(best), everyone)))
            mean, sd = np.mean(found, axis=0), np.std(found, axis=0, ddof=1) if len(found) > 1 else (0, 0, 0)
            cells = "".join(f"{m:>11.4f} ± {s:.4f}" for m, s in zip(mean, sd))
            print(f"{budget:>6}  {sampler:<8}{cells}")


if __name__ == "__main__":
    main()
