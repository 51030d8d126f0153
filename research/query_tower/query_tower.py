"""Fine-tune only the query side of e5-small against the base model's passage vectors of the whole corpus.

    python benchmarks/pipeline.py --data ../shared/data/competition --alphas --keep   # prints its workspace
    python research/query_tower/query_tower.py --work /tmp/ragtune-bench-XXXX/ragtune --recipes base,tower,tower-kd-top4,adapter

Why this recipe: the symmetric recipes of research/e5_finetune/train_e5.py move the passages too, and measure on a
candidate subset. Here the passages stay the base model's (the vectors the index stage remembered:
`models/.encodings`), so only queries are encoded during training and each question is scored against every
one of the 4,272 documents (a full-corpus softmax: every other document is a negative, no sampling). Deployment
would need no re-indexing. Recipes: `tower*` train the query encoder (all layers but the word embeddings, or
the top N), optionally with a KL term toward the base model's own full-corpus distribution; `adapter` trains a
384×384 linear map on the base query vectors (identity at the start), the cheapest query-side change.
`--interpolate 0.25,0.5` also measures each trained query encoder merged with the base (WiSE-FT: the weights
base + w · (tuned − base)); `--temperature 0.01` is E5's own pre-training temperature.

Training questions: `offline` (the pipeline's data/queries/train.jsonl: 3 offline questions per document),
`dev` (the dev questions, LLM-written, standing in for an LLM's via `queries.from_file`, minus the measured
ones), `dev-masked` (those dev questions without their key term: `without_key_term`) or `conversational` (the
conversational knowledge questions, split in two folds by document: each fold
trains a model that encodes the other fold, so every conversational figure is held out; the question this
answers is whether questions of the conversational *form* would let fine-tuning gain, as an LLM prompted for
them might write; dev: the mean of the two models). Prints dense map@3 / mrr@10 on the conversational knowledge questions and on `--dev` seeded dev
questions, over the full corpus, for the base model and after each recipe.
"""  # noqa: E501

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e5_shared"))

import kept_workspace  # noqa: E402
from e5_bench import QUERY_LEN, dense_metrics, log, mean_pooled  # noqa: E402

from ragtune.training.partial_finetune import frozen_parameter_names  # noqa: E402
from ragtune.training.selection import question_text  # noqa: E402

RECIPES = {
    "tower": dict(kind="tower", questions="offline", top_layers=0, steps=200, batch=32, lr=2e-5, kd_weight=0.0),
    "tower-kd-top4": dict(kind="tower", questions="offline", top_layers=4, steps=100, batch=32, lr=1e-5, kd_weight=0.5),
    "tower-dev": dict(kind="tower", questions="dev", top_layers=0, steps=200, batch=32, lr=2e-5, kd_weight=0.0),
    "tower-dev-kd-top4": dict(kind="tower", questions="dev", top_layers=4, steps=100, batch=32, lr=1e-5, kd_weight=0.5),
    # one whole epoch over the 18,180 unmeasured dev questions
    "tower-dev-epoch": dict(kind="tower", questions="dev", top_layers=0, steps=568, batch=32, lr=2e-5, kd_weight=0.0),
    # dev questions without their key term (see without_key_term)
    "tower-masked-kd-top4": dict(
        kind="tower", questions="dev-masked", top_layers=4, steps=200, batch=32, lr=1e-5, kd_weight=0.5
    ),
    "tower-masked": dict(
        kind="tower", questions="dev-masked", top_layers=0, steps=200, batch=32, lr=2e-5, kd_weight=0.0
    ),
    # the conversational questions themselves, two-fold by document: each fold's model is measured on the other fold
    "tower-conv-kd-top4": dict(
        kind="tower", questions="conversational", top_layers=4, steps=40, batch=16, lr=1e-5, kd_weight=0.5
    ),
    "tower-conv": dict(
        kind="tower", questions="conversational", top_layers=0, steps=40, batch=16, lr=2e-5, kd_weight=0.0
    ),
    "adapter": dict(kind="adapter", questions="offline", top_layers=0, steps=1000, batch=64, lr=1e-3, kd_weight=0.0),
}


class QueryEncoder:
    """E5 query vectors ("query: " prefix, mean pooling, normalised) from a transformers model, with gradients."""

    def __init__(self, model_dir: Path):
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModel.from_pretrained(model_dir)

    def __call__(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenizer(
            ["query: " + t for t in texts], max_length=QUERY_LEN, truncation=True, padding=True, return_tensors="pt"
        )
        return mean_pooled(self.model(**batch).last_hidden_state, batch["attention_mask"])

    @torch.no_grad()  # not inference_mode: the adapter trains on these vectors
    def encode(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        self.model.eval()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # ordered batches: little padding
        out = torch.zeros(len(texts), self.model.config.hidden_size)
        for b in range(0, len(order), batch_size):
            index = order[b : b + batch_size]
            out[index] = self([texts[i] for i in index])
        return out

    def train_only(self, top_layers: int) -> list[torch.nn.Parameter]:
        """Trainable: everything but the word embeddings, or only the top `top_layers` layers."""
        parameters = dict(self.model.named_parameters())
        frozen = frozen_parameter_names(list(parameters), freeze_word_embeddings=True, train_top_layers=top_layers)
        for name, parameter in parameters.items():
            parameter.requires_grad = name not in frozen
        return [p for p in self.model.parameters() if p.requires_grad]


def without_key_term(
    pairs: list[tuple[str, str]], documents: dict[str, str], rare: float = 0.02, keep: int = 3
) -> list[tuple[str, str]]:
    """Each question minus its key term: of its words (an eojeol, or the eojeol less a 1–2 character ending) that
    occur in its own document, the one in the fewest documents, if under `rare` of them. The rest describes the
    concept without naming it, as the conversational questions the base model misses do ("콘덴서 용량을 크게
    하려면 …" for a document about 유전율). Questions without such a term or left under `keep` words are dropped."""
    texts, counts = list(documents.values()), {}

    def document_count(term: str) -> int:
        if term not in counts:
            counts[term] = sum(term in text for text in texts)
        return counts[term]

    out = []
    for question, docid in pairs:
        document, words = documents[docid], question.split()
        shared = [
            (min(document_count(c) for c in forms), i)
            for i, word in enumerate(words)
            if (forms := [c for c in {word.strip("?.,!"), word[:-1], word[:-2]} if len(c) >= 2 and c in document])
        ]
        if shared and len(words) > keep and min(shared)[0] < rare * len(documents):
            key = min(shared)[1]
            out.append((" ".join(w for i, w in enumerate(words) if i != key), docid))
    return out


def interpolated(base: QueryEncoder, tuned: QueryEncoder, weight: float) -> QueryEncoder:
    """WiSE-FT (Wortsman et al. 2022): the encoder whose weights are base + weight · (tuned − base)."""
    merged = copy.deepcopy(base)
    tuned_state = tuned.model.state_dict()
    merged.model.load_state_dict(
        {
            name: value + weight * (tuned_state[name] - value) if value.is_floating_point() else value
            for name, value in base.model.state_dict().items()
        }
    )
    return merged


def schedule(optimiser, steps: int):
    warmup = max(1, steps // 10)
    return torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / steps)))


def train_tower(
    model_dir: Path, recipe: dict, pairs: list[tuple[str, int]], passages: torch.Tensor, temperature: float, seed: int
) -> QueryEncoder:
    torch.manual_seed(seed)
    student, teacher = QueryEncoder(model_dir), QueryEncoder(model_dir) if recipe["kd_weight"] else None
    optimiser = torch.optim.AdamW(student.train_only(recipe["top_layers"]), lr=recipe["lr"], weight_decay=0.01)
    lr_schedule = schedule(optimiser, recipe["steps"])
    started = time.time()
    for step in range(recipe["steps"]):
        student.model.train()
        chunk = [pairs[(step * recipe["batch"] + k) % len(pairs)] for k in range(recipe["batch"])]
        logits = student([q for q, _ in chunk]) @ passages.T / temperature  # every document of the corpus
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([d for _, d in chunk]))
        if teacher is not None:  # KL toward the base model's own distribution over the corpus
            with torch.no_grad():
                target = torch.softmax(teacher.encode([q for q, _ in chunk]) @ passages.T / temperature, -1)
            kl = torch.nn.functional.kl_div(torch.log_softmax(logits, -1), target, reduction="batchmean")
            loss = (1 - recipe["kd_weight"]) * loss + recipe["kd_weight"] * kl
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        lr_schedule.step()
        if (step + 1) % 20 == 0:
            log(f"  step {step + 1}/{recipe['steps']} loss {loss.item():.4f} ({time.time() - started:.0f} s)")
    return student


def train_adapter(
    base_questions: torch.Tensor,
    recipe: dict,
    targets: torch.Tensor,
    passages: torch.Tensor,
    temperature: float,
    seed: int,
) -> torch.nn.Linear:
    torch.manual_seed(seed)
    adapter = torch.nn.Linear(passages.shape[1], passages.shape[1], bias=False)
    torch.nn.init.eye_(adapter.weight)
    optimiser = torch.optim.AdamW(adapter.parameters(), lr=recipe["lr"], weight_decay=0.0)
    for step in range(recipe["steps"]):  # noqa: B007
        index = torch.randint(0, len(targets), (recipe["batch"],))
        queries = torch.nn.functional.normalize(adapter(base_questions[index]), dim=-1)
        loss = torch.nn.functional.cross_entropy(queries @ passages.T / temperature, targets[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return adapter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    kept_workspace.add_arguments(parser)
    parser.add_argument(
        "--recipes",
        default="base,tower,tower-kd-top4,adapter",
        help=f"comma-separated: base and any of {', '.join(RECIPES)}",
    )
    parser.add_argument(
        "--interpolate",
        default="",
        help="also measure each trained query encoder merged with the base model (WiSE-FT): "
        "comma-separated weights of the fine-tuned model, e.g. 0.3,0.5 (not for the "
        "conversational folds)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    workspace = kept_workspace.load(args)
    base_dir, docids, position, passages = workspace.base_dir, workspace.docids, workspace.position, workspace.passages
    measured = workspace.measured
    measured_qids = {row["qid"] for row in measured["dev"]}
    questions = {
        "offline": workspace.offline,
        "dev": [
            (question_text(row), row["relevant"][0])
            for row in workspace.validation
            if row.get("source") == "dev" and row["qid"] not in measured_qids
        ],
    }
    if any(RECIPES[n.strip()]["questions"] == "dev-masked" for n in args.recipes.split(",") if n.strip() in RECIPES):
        questions["dev-masked"] = without_key_term(
            questions["dev"], {d["docid"]: d["content"] for d in workspace.documents}
        )
        log(
            f"dev-masked: {len(questions['dev-masked'])} of {len(questions['dev'])} dev questions, e.g. "
            f"{questions['dev-masked'][:3]}"
        )

    def figures(encode, rows_of=None) -> dict:
        out = {}
        for name, rows in measured.items():
            rows = rows if rows_of is None else rows_of.get(name, rows)
            vectors = encode([question_text(row) for row in rows]).numpy()
            out[name] = dense_metrics(
                vectors,
                passages.numpy(),
                [r["qid"] for r in rows],
                docids,
                {r["qid"]: list(r["relevant"]) for r in rows},
            )
        return out

    def cross_validated(recipe: dict) -> dict:
        """Conversational figures of models each trained on the other fold; dev: the mean of the fold models."""
        documents_of = sorted({row["relevant"][0] for row in measured["conversational"]})
        random.Random(args.seed).shuffle(documents_of)
        fold_of = {d: i % 2 for i, d in enumerate(documents_of)}
        folds = [[r for r in measured["conversational"] if fold_of[r["relevant"][0]] == k] for k in (0, 1)]
        held_out, dev = {}, []
        for k in (0, 1):
            pairs = [(question_text(r), position[d]) for r in folds[1 - k] for d in r["relevant"] if d in position]
            random.Random(args.seed).shuffle(pairs)
            model = train_tower(base_dir, recipe, pairs, passages, args.temperature, args.seed)
            held_out.update(zip((r["qid"] for r in folds[k]), model.encode([question_text(r) for r in folds[k]])))
            dev.append(figures(model.encode, {"conversational": folds[k]})["dev"])
        rows = measured["conversational"]
        return {
            "conversational": dense_metrics(
                torch.stack([held_out[r["qid"]] for r in rows]).numpy(),
                passages.numpy(),
                [r["qid"] for r in rows],
                docids,
                {r["qid"]: list(r["relevant"]) for r in rows},
            ),
            "dev": {m: float(np.mean([d[m] for d in dev])) for m in dev[0]},
        }

    base = QueryEncoder(base_dir)
    table = [("base", {}, 0.0, figures(base.encode))]
    log(f"base: {table[-1][3]}")
    for name in [n.strip() for n in args.recipes.split(",") if n.strip() and n.strip() != "base"]:
        recipe = RECIPES[name]
        pairs = [(q, position[d]) for q, d in questions.get(recipe["questions"], []) if d in position]
        random.Random(args.seed).shuffle(pairs)
        started = time.time()
        if recipe["questions"] == "conversational":
            scores = cross_validated(recipe)
            table.append((name, recipe, time.time() - started, scores))
            log(f"{name}: two folds, {time.time() - started:.0f} s: {table[-1][3]}")
            continue
        if recipe["kind"] == "adapter":
            adapter = train_adapter(
                base.encode([q for q, _ in pairs]),
                recipe,
                torch.tensor([d for _, d in pairs]),
                passages,
                args.temperature,
                args.seed,
            )
            encode = lambda texts: torch.nn.functional.normalize(adapter(base.encode(texts)), dim=-1).detach()  # noqa: B023, E731
        else:
            tuned = train_tower(base_dir, recipe, pairs, passages, args.temperature, args.seed)
            encode = tuned.encode
        seconds = time.time() - started
        table.append((name, recipe, seconds, figures(encode)))
        log(f"{name}: {len(pairs)} training questions, {seconds:.0f} s: {table[-1][3]}")
        for weight in [float(w) for w in args.interpolate.split(",") if w.strip()] if recipe["kind"] == "tower" else []:
            table.append(
                (f"{name} merged {weight:g}", recipe, seconds, figures(interpolated(base, tuned, weight).encode))
            )
            log(f"{table[-1][0]}: {table[-1][3]}")

    print(
        "\n| recipe | questions | trained | steps × batch | lr | KD weight | train s | conv map@3 | conv mrr@10 "
        "| dev map@3 | dev mrr@10 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, recipe, seconds, scores in table:
        trained = (
            (
                "linear adapter"
                if recipe.get("kind") == "adapter"
                else f"top {recipe['top_layers']} layers"
                if recipe.get("top_layers")
                else "all but word embeddings"
            )
            if recipe
            else "–"
        )
        shape = f"{recipe['steps']} × {recipe['batch']}" if recipe else "0"
        c, d = scores["conversational"], scores["dev"]
        print(
            f"| {name} | {recipe.get('questions', '–')} | {trained} | {shape} | {recipe.get('lr', '–')} "
            f"| {recipe.get('kd_weight', '–')} | {seconds:.0f} | {c['map@3']:.4f} | {c['mrr@10']:.4f} "
            f"| {d['map@3']:.4f} | {d['mrr@10']:.4f} |"
        )
    print(
        f"\nfull corpus ({len(docids)} documents, base passage vectors); conversational "
        f"{len(measured['conversational'])} knowledge questions; dev {len(measured['dev'])} seeded (seed {args.seed}); "
        f"temperature {args.temperature}"
    )


if __name__ == "__main__":
    main()
