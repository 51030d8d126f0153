"""`ragtune export DIR`: the tuned retriever of a built workspace, for a RAG application that does not use ragtune.

DIR/embedder   the fine-tuned embedder as a sentence-transformers directory: Transformer + Pooling (the spec's:
               mean for E5, CLS for BGE-M3) + Normalize, with prompts "query" / "passage" (E5's prefixes; empty
               for BGE-M3) and no default prompt, so `encode(texts, prompt_name=...)` says which side it encodes
DIR/faiss.index, DIR/docids.json   indexes/dense as the retrieve stage searches it (row i = docids[i])
DIR/passages.jsonl   {docid, source, title, text} per row of the index, in its order
DIR/README.md  the few lines of Python that use them

The exported model encodes what ragtune's encoder does (tests/models/test_export.py checks the vectors); one
difference: sentence-transformers has one maximum length, the passages' (`model.passage_max_len`), so a query
longer than `model.query_max_len` tokens keeps more of its tokens than ragtune keeps.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from ragtune.io import UserError, atomic_write, honour_umask, read_json, read_jsonl, staged_directory, write_json
from ragtune.models.encoders import read_spec
from ragtune.models.hub import resolve_model

README = """# Retriever exported by ragtune

- `embedder/`: the fine-tuned embedder ({family}, {pooling} pooling, unit vectors), a sentence-transformers model
- `faiss.index`: inner-product FAISS index of the passages (row i is `docids.json`[i])
- `passages.jsonl`: `{{"docid", "source", "title", "text"}}`, one row per index row, in the same order

```python
import json, faiss
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{dir}/embedder")
index = faiss.read_index("{dir}/faiss.index")
passages = [json.loads(line) for line in open("{dir}/passages.jsonl", encoding="utf-8")]

def retrieve(query: str, k: int = 5) -> list[dict]:
    vector = model.encode([query], prompt_name="query", normalize_embeddings=True)
    scores, rows = index.search(vector, k)
    return [passages[i] | {{"score": float(s)}} for s, i in zip(scores[0], rows[0]) if i >= 0]
```

New passages: `model.encode(texts, prompt_name="passage", normalize_embeddings=True)`, then `index.add(vectors)`
and append their rows to `passages.jsonl` in the same order. Queries are cut at {max_length} tokens.
This is the dense half of ragtune's retrieval: `ragtune search` in the workspace adds the lexical runs, the
fusion and the reranker the workspace was tuned with.
"""


class ExportError(UserError):
    """The export cannot be written (a non-empty target without --force, a workspace not built)."""


def export(root: Path, out_dir: Path, *, force: bool = False, log: Callable[[str], None] = print) -> Path:
    """Write the export of the workspace at `root` to `out_dir` (atomically: a staged directory renamed into
    place); refuse a non-empty `out_dir` unless `force`. Returns `out_dir`."""
    from ragtune.retrieval.search import passage_row, read_params, require_built

    root, out_dir = Path(root), Path(out_dir)
    ws = require_built(root)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not force:
        raise ExportError(f"{out_dir} exists and is not empty (--force replaces it)")
    index_dir = ws.indexes / "dense"
    if not (index_dir / "faiss.index").is_file():
        raise ExportError(f"{index_dir / 'faiss.index'} is missing: run `dvc repro` first")
    p = read_params(root)
    documents = {d["docid"]: passage_row(d) for d in read_jsonl(ws.documents)}
    docids = read_json(index_dir / "docids.json")
    missing = [d for d in docids if d not in documents]
    if missing:
        raise ExportError(f"{index_dir}: {len(missing)} docids not in {ws.documents} (rerun `dvc repro`)")
    with staged_directory(out_dir) as stage:
        log(f"export: embedder {ws.embedder} → {out_dir / 'embedder'}")
        max_length = save_sentence_transformer(ws.embedder, stage / "embedder", p.model.passage_max_len)
        shutil.copyfile(index_dir / "faiss.index", stage / "faiss.index")
        write_json(stage / "docids.json", docids)
        with atomic_write(stage / "passages.jsonl") as handle:
            for docid in docids:
                row = {key: documents[docid][key] for key in ("docid", "source", "title", "text")}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        spec = read_spec(ws.embedder)
        with atomic_write(stage / "README.md") as handle:
            handle.write(README.format(dir=out_dir, family=spec.family, pooling=spec.pooling, max_length=max_length))
        honour_umask(stage)  # the weights were written 0600, as a temporary file
        log(f"export: {len(docids)} passages, FAISS index and README → {out_dir}")
    return out_dir


def save_sentence_transformer(model_dir: Path, out_dir: Path, max_length: int | None = None) -> int:
    """Write the embedder of `model_dir` (a model directory, or a pointer to one) as a sentence-transformers
    directory that encodes as ragtune's encoder does (`EncoderSpec`: pooling, prefixes). Returns the maximum
    sequence length it was given (`max_length`, else the spec's passage length)."""
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers ≥ 6 moved the modules; older ones have them here
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # pragma: no cover
        from sentence_transformers.models import Normalize, Pooling, Transformer

    spec = read_spec(model_dir)
    max_length = max_length or spec.passage_max_length
    transformer = Transformer(resolve_model(model_dir), max_seq_length=max_length)
    dimension = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
    prompts = prompts_of(spec)
    model = SentenceTransformer(
        modules=[transformer, Pooling(dimension(), pooling_mode=spec.pooling), Normalize()],
        device="cpu",
        prompts=prompts,
        default_prompt_name=None,
        similarity_fn_name="cosine",
    )
    model.save(str(out_dir))
    write_classic_configs(Path(out_dir), spec.pooling, dimension(), max_length, prompts)
    return max_length


def prompts_of(spec) -> dict[str, str]:
    """The prompts a family's encoder prepends ("query" / "passage"; "document", what sentence-transformers'
    `encode_document` uses, as "passage"). BGE-M3: empty, so the same code serves both families."""
    return {"query": spec.query_prefix, "passage": spec.passage_prefix, "document": spec.passage_prefix}


def write_classic_configs(out_dir: Path, pooling: str, dimension: int, max_length: int, prompts: dict) -> None:
    """The module files in the layout every sentence-transformers release reads (the published E5 and BGE-M3
    models use it): legacy module names, `max_seq_length` in sentence_bert_config.json, Pooling's flags."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    modes = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")
    chosen = {"cls": "cls_token", "mean": "mean_tokens"}[pooling]
    files = {
        "modules.json": modules,
        "sentence_bert_config.json": {"max_seq_length": max_length, "do_lower_case": False},
        "1_Pooling/config.json": {
            "word_embedding_dimension": dimension,
            **{f"pooling_mode_{mode}": mode == chosen for mode in modes},
            "include_prompt": True,
        },
        "config_sentence_transformers.json": {
            **read_json(out_dir / "config_sentence_transformers.json"),
            "prompts": prompts,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }
    for name, values in files.items():
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(out_dir / name) as handle:
            handle.write(json.dumps(values, indent=2) + "\n")
