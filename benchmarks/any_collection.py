"""Any collection through the whole pipeline: per shipped sample (or a folder of your own files), the retrievers'
figures, passages per file and ingestion speed, in a fresh clone of the committed code.

Prints, per collection: files and passages (per file, per format), ingestion files/s and passages/s (reading and
splitting only, warm), the corpus language, then map@3, mrr@10 and recall@10 of bm25, lexical, dense_base, dense
and hybrid per validation source, and chit-chat precision/recall.
Usage: python benchmarks/any_collection.py [--data sample sample_en] [--folder DIR [--questions FILE]] [--keep]
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline import timed

ROOT = Path(__file__).resolve().parents[1]
SHOWN = ("bm25", "lexical", "dense_base", "dense", "hybrid")
METRICS = ("map@3", "mrr@10", "recall@10")


def ingestion(folder: Path) -> None:
    """Reading and splitting alone: files/s and passages/s (second, warm run), passages per file and format."""
    sys.path.insert(0, str(ROOT))
    from ragtune.data.passages import split_documents
    from ragtune.data.readers import read_folder
    from ragtune.models.e5 import xlmr_token_counter

    count = xlmr_token_counter()
    read_folder(folder)
    started = time.perf_counter()
    corpus = read_folder(folder)
    passages = split_documents(corpus.documents, max_tokens=252, overlap=32, count_tokens=count)
    seconds = time.perf_counter() - started
    per_format = collections.Counter(Path(p.path).suffix for p in passages)
    files = collections.Counter(Path(f).suffix for f in corpus.files)
    per_file = len(passages) / len(corpus.files)
    print(f"  files {len(corpus.files)} ({dict(sorted(files.items()))}), passages {len(passages)}")
    print(f"  {per_file:.1f} passages per file; per format {dict(sorted(per_format.items()))}")
    print(f"  ingestion: {len(corpus.files) / seconds:.0f} files/s, {len(passages) / seconds:.0f} passages/s")


def answered_in_top(repo: Path, k: int = 3) -> dict[str, tuple[int, int]]:
    """Per validation source: (questions with an answering passage in the final ranking's top k, questions that
    need one) — what `ragtune search` shows a user."""
    sys.path.insert(0, str(repo))
    from ragtune.runs import load_runs

    hybrid = load_runs(repo / "runs/validation")["hybrid"]
    row = {qid: i for i, qid in enumerate(hybrid.qids)}
    found: dict[str, list[int]] = {}
    for line in (repo / "data/queries/validation.jsonl").open(encoding="utf-8"):
        question = json.loads(line)
        if question["relevant"]:
            top = hybrid.ranking(row[question["qid"]], k)
            found.setdefault(question["source"], []).append(bool(set(top) & set(question["relevant"])))
    return {source: (sum(hits), len(hits)) for source, hits in found.items()}


def figures(repo: Path) -> None:
    scores = json.loads((repo / "metrics/retrieval.json").read_text())
    answered = answered_in_top(repo)
    language = json.loads((repo / "data/prepared/collection.json").read_text())["language"]
    print(f"  language: {language}")
    for source, section in scores.items():
        print(f"  source {source}: " + "   ".join(f"{m}" for m in METRICS))
        for name in SHOWN:
            if name in section:
                print(f"    {name:<11}" + "  ".join(f"{section[name][m]:.4f}" for m in METRICS))
        chit = section.get("chitchat", {})
        print(f"    chit-chat precision {chit.get('precision')} recall {chit.get('recall')}")
        hits, total = answered.get(source, (0, 0))
        print(f"    an answering passage in hybrid's top 3: {hits}/{total} ({hits / max(total, 1):.1%})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", nargs="*", default=["sample", "sample_en"])
    parser.add_argument("--folder", type=Path, help="a folder of your own files (data=folder)")
    parser.add_argument("--questions", type=Path, help="its labelled questions (JSONL or CSV)")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces and print where")
    args = parser.parse_args()
    runs = [(name, [f"data={name}"]) for name in args.data]
    if args.folder:
        overrides = ["data=folder", f"data.path={args.folder.resolve()}"]
        runs.append(("folder", overrides + ([f"data.questions={args.questions.resolve()}"] if args.questions else [])))
    for name, overrides in runs:
        work = Path(tempfile.mkdtemp(prefix=f"ragtune-{name}-"))
        repo = work / "ragtune"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        subprocess.run([sys.executable, "-m", "ragtune.cli", "params", *overrides], cwd=repo, check=True)
        params = __import__("yaml").safe_load((repo / "params.yaml").read_text())["data"]
        stages: dict[str, float] = {}
        seconds = timed(["dvc", "repro"], repo, stages)
        print(f"\n== {name}: dvc repro {seconds:.0f} s ({', '.join(f'{s} {t:.0f}' for s, t in stages.items())})")
        if params.get("documents") is None:
            ingestion((repo / params["path"]) if not Path(params["path"]).is_absolute() else Path(params["path"]))
        figures(repo)
        if args.keep:
            print(f"  kept: {repo}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
