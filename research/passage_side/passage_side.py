"""Move only the passage side of e5-small toward its documents' synthetic questions; queries stay the base model's.

    python benchmarks/pipeline.py --data ../shared/data/competition --alphas --keep   # prints its workspace
    python research/passage_side/passage_side.py --work /tmp/ragtune-bench-XXXX/ragtune

Why: research/query_tower/query_tower.py showed that training the query side erodes what the base model knows about
conversational questions, whichever questions it learns from. Here the query encoder is never touched: every
question (training or measured) is the base model's query vector, and what changes is where the documents sit.
Recipes, over the whole corpus (4,272 base passage vectors, the ones the index stage remembered):
- `expand`: each document's vector plus `beta` times the mean base vector of its training questions,
  renormalised (closed form: a document moves toward the questions written about it);
- `adapter`: a 384×384 linear map on the passage vectors (identity at the start), trained with a full-corpus
  softmax of the fixed training-question vectors (temperature 0.02);
- `vectors`: every document's vector free (started at the base vector), the same softmax plus an L2 pull
  toward the base vector.
Training questions: `offline` (the pipeline's data/queries/train.jsonl) or `dev` (the dev questions,
LLM-written, standing in for an LLM's via `queries.from_file`, minus the measured ones and every question of
the measured ones' documents, so dev stays held out). Prints dense map@3 / mrr@10 on the conversational
knowledge questions and on `--dev` seeded dev questions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e5_shared"))

import kept_workspace  # noqa: E402
from e5_bench import dense_metrics, log  # noqa: E402

from ragtune.training.selection import question_text  # noqa: E402

RECIPES = {
    **{
        f"expand-{q}-{b}": dict(kind="expand", questions=q, beta=float(b), centred=False)
        for q in ("offline", "dev")
        for b in ("0.1", "0.25", "0.5", "1")
    },
    **{
        f"expand-centred-{q}-{b}": dict(kind="expand", questions=q, beta=float(b), centred=True)
        for q in ("offline", "dev")
        for b in ("0.1", "0.25", "0.5", "1")
    },
    "adapter-offline": dict(kind="adapter", questions="offline", steps=1000, batch=64, lr=1e-3),
    "vectors-offline": dict(kind="vectors", questions="offline", steps=400, batch=128, lr=2e-3, pull=1.0),
    "vectors-dev": dict(kind="vectors", questions="dev", steps=400, batch=128, lr=2e-3, pull=1.0),
}


def expand(
    passages: torch.Tensor, questions: torch.Tensor, targets: torch.Tensor, beta: float, centred: bool
) -> torch.Tensor:
    """Each passage plus beta × the mean of its questions' vectors (passages without questions unchanged).

    `centred`: minus the mean of all training questions first, so that what moves a document is what its
    questions share beyond being questions (the common direction would pull every expanded document toward
    every query)."""
    if centred:
        questions = questions - questions.mean(0)
    sums = torch.zeros_like(passages).index_add_(0, targets, questions)
    counts = torch.bincount(targets, minlength=len(passages)).unsqueeze(1)
    return torch.nn.functional.normalize(passages + beta * sums / counts.clamp(min=1), dim=-1)


def train(
    passages: torch.Tensor, questions: torch.Tensor, targets: torch.Tensor, recipe: dict, temperature: float, seed: int
) -> torch.Tensor:
    """Adapted passage vectors: a linear map on them, or the vectors themselves, under a full-corpus softmax."""
    torch.manual_seed(seed)
    if recipe["kind"] == "adapter":
        adapter = torch.nn.Linear(passages.shape[1], passages.shape[1], bias=False)
        torch.nn.init.eye_(adapter.weight)
        parameters, adapted = (
            list(adapter.parameters()),
            lambda: torch.nn.functional.normalize(adapter(passages), dim=-1),
        )
    else:
        free = torch.nn.Parameter(passages.clone())
        parameters, adapted = [free], lambda: torch.nn.functional.normalize(free, dim=-1)
    optimiser = torch.optim.AdamW(parameters, lr=recipe["lr"], weight_decay=0.0)
    for step in range(recipe["steps"]):
        index = torch.randint(0, len(targets), (recipe["batch"],))
        vectors = adapted()
        loss = torch.nn.functional.cross_entropy(questions[index] @ vectors.T / temperature, targets[index])
        if recipe["kind"] == "vectors":  # stay near the base vectors: documents no question names keep theirs
            loss = loss + recipe["pull"] * (vectors - passages).pow(2).sum(-1).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if (step + 1) % 200 == 0:
            log(f"  step {step + 1}/{recipe['steps']} loss {loss.item():.4f}")
    with torch.no_grad():
        return adapted()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    kept_workspace.add_arguments(parser)
    parser.add_argument(
        "--recipes",
        default="base,expand-offline-0.5,expand-offline-1,expand-dev-0.5,expand-dev-1,"
        "adapter-offline,vectors-offline,vectors-dev",
        help=f"comma-separated: base and any of {', '.join(RECIPES)}",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("/tmp/ragtune-passage-side"),
        help="where the base query vectors are remembered between runs",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    workspace = kept_workspace.load(args)
    docids, position, passages, measured = workspace.docids, workspace.position, workspace.passages, workspace.measured
    held_out = {d for row in measured["dev"] for d in row["relevant"]}
    pairs = {
        "offline": workspace.offline,
        "dev": [
            (question_text(row), row["relevant"][0])
            for row in workspace.validation
            if row.get("source") == "dev" and not set(row["relevant"]) & held_out
        ],
    }
    started = time.time()
    training = {
        name: (
            workspace.base_vectors("query", [q for q, _ in rows], args.cache),
            torch.tensor([position[d] for _, d in rows]),
        )
        for name, rows in pairs.items()
    }
    log(
        f"base query vectors of {sum(len(r) for r in pairs.values())} training questions: {time.time() - started:.0f} s"
    )
    measured_vectors = {
        name: workspace.base_vectors("query", [question_text(r) for r in rows], args.cache).numpy()
        for name, rows in measured.items()
    }

    def figures(vectors: torch.Tensor) -> dict:
        return {
            name: dense_metrics(
                measured_vectors[name],
                vectors.numpy(),
                [r["qid"] for r in rows],
                docids,
                {r["qid"]: list(r["relevant"]) for r in rows},
            )
            for name, rows in measured.items()
        }

    table = [("base", {}, 0.0, figures(passages))]
    log(f"base: {table[-1][3]}")
    for name in [n.strip() for n in args.recipes.split(",") if n.strip() and n.strip() != "base"]:
        recipe = RECIPES[name]
        questions, targets = training[recipe["questions"]]
        started = time.time()
        vectors = (
            expand(passages, questions, targets, recipe["beta"], recipe["centred"])
            if recipe["kind"] == "expand"
            else train(passages, questions, targets, recipe, args.temperature, args.seed)
        )
        seconds = time.time() - started
        table.append((name, recipe, seconds, figures(vectors)))
        log(f"{name}: {len(targets)} training questions, {seconds:.0f} s: {table[-1][3]}")

    print("\n| recipe | questions | kind | setting | s | conv map@3 | conv mrr@10 | dev map@3 | dev mrr@10 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, recipe, seconds, scores in table:
        setting = (
            f"beta {recipe['beta']}{', centred' if recipe['centred'] else ''}"
            if recipe.get("kind") == "expand"
            else f"{recipe['steps']} × {recipe['batch']}, lr {recipe['lr']}"
            if recipe
            else "–"
        )
        c, d = scores["conversational"], scores["dev"]
        print(
            f"| {name} | {recipe.get('questions', '–')} | {recipe.get('kind', '–')} | {setting} | {seconds:.0f} "
            f"| {c['map@3']:.4f} | {c['mrr@10']:.4f} | {d['map@3']:.4f} | {d['mrr@10']:.4f} |"
        )
    print(
        f"\nfull corpus ({len(docids)} documents); conversational {len(measured['conversational'])} knowledge "
        f"questions; dev {len(measured['dev'])} seeded (seed {args.seed}; no training question of their "
        f"{len(held_out)} documents); temperature {args.temperature}"
    )


if __name__ == "__main__":
    main()
