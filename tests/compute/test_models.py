"""ragtune.compute.models: encoding and cross-encoder scoring give the local path's results on every engine — the
local engine is the local call; a 2-worker Ray (slow tier) gives the same bytes."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_support import SENTENCES

from ragtune.compute.engine import LocalEngine, RayEngine
from ragtune.models.encoders import length_order, load_encoder
from ragtune.retrieval.rerank import CrossEncoderReranker

LENGTHS = {"query_max_length": 32, "passage_max_length": 128}  # the tiny models' positions
TEXTS = [sentence * (1 + number % 4) for number, sentence in enumerate(SENTENCES)] * 3  # lengths vary, some tie
QUERIES = ["광합성은 무엇인가", "세포의 구조", "태양의 에너지", "물의 순환"]
CANDIDATES = [[(f"d{n}", text) for n, text in enumerate(TEXTS[i : i + 7])] for i in range(len(QUERIES))]


def test_the_local_engine_encodes_as_load_encoder(tiny_e5):
    local = LocalEngine().load_encoder(tiny_e5, batch_size=4, **LENGTHS)
    direct = load_encoder(tiny_e5, batch_size=4, **LENGTHS)
    assert np.array_equal(local.encode(TEXTS, "passage").dense, direct.encode(TEXTS, "passage").dense)
    assert (local.dimension, local.vocab_size) == (direct.dimension, direct.vocab_size)


def test_length_order_is_the_order_flagembedding_batches_in(tiny_embedder):
    model = load_encoder(tiny_embedder, **LENGTHS).model
    lengths = [len(ids) for ids in model.tokenizer(TEXTS, truncation=True, max_length=128)["input_ids"]]
    order = length_order(tiny_embedder, TEXTS, "passage", **LENGTHS)
    assert sorted(order.tolist()) == list(range(len(TEXTS)))
    assert [lengths[i] for i in order] == sorted(lengths, reverse=True)
    assert order.tolist() == np.argsort([-n for n in lengths]).tolist()


def test_the_local_engine_scores_as_the_cross_encoder(tiny_reranker):
    local = LocalEngine().load_reranker(tiny_reranker, batch_size=4, max_length=64)
    direct = CrossEncoderReranker(tiny_reranker, device="cpu", batch_size=4, max_length=64)
    assert local.rerank_lists(QUERIES, CANDIDATES, 9) == direct.rerank_lists(QUERIES, CANDIDATES, 9)


@pytest.mark.slow
@pytest.mark.parametrize("model, kinds", [("tiny_embedder", ("passage", "query")), ("tiny_e5", ("passage", "query"))])
def test_ray_encodes_the_local_bytes(request, ray_cluster, model, kinds):
    """Batches cut in FlagEmbedding's length order, whole model batches per actor call: the same fp32 bytes."""
    directory = request.getfixturevalue(model)
    lexical = {"lexical": True} if model == "tiny_embedder" else {}
    local = LocalEngine().load_encoder(directory, batch_size=4, **LENGTHS)
    remote = RayEngine(workers=2, batch_size=10).load_encoder(directory, batch_size=4, **LENGTHS)  # 8 rows a call
    for kind in kinds:
        here, there = local.encode(TEXTS, kind, **lexical), remote.encode(TEXTS, kind, **lexical)
        assert here.dense.tobytes() == there.dense.tobytes()
        assert here.lexical == there.lexical
    assert remote.encode([], "query").dense.shape == (0, local.dimension)


@pytest.mark.slow
def test_ray_scores_pairs_as_the_local_cross_encoder(ray_cluster, tiny_reranker):
    local = LocalEngine().load_reranker(tiny_reranker, batch_size=4, max_length=64)
    remote = RayEngine(workers=2).load_reranker(tiny_reranker, batch_size=4, max_length=64)
    assert remote.rerank_lists(QUERIES, CANDIDATES, 9) == local.rerank_lists(QUERIES, CANDIDATES, 9)
    queries = {f"q{i}": query for i, query in enumerate(QUERIES)}
    candidates = {f"q{i}": group for i, group in enumerate(CANDIDATES)}
    assert remote.rerank_many(queries, candidates) == local.rerank_many(queries, candidates)


def test_the_local_engine_pairs_models_as_load_pair(tiny_e5, tmp_path):
    from tiny_support import retrained_copy

    tuned = retrained_copy(tiny_e5, tmp_path / "tuned", layer=-1)
    pair = LocalEngine().load_pair(tuned, tiny_e5, batch_size=4, **LENGTHS)
    for model, vectors in zip((tuned, tiny_e5), pair.dense(TEXTS, "passage"), strict=True):
        assert np.array_equal(vectors, load_encoder(model, batch_size=4, **LENGTHS).encode(TEXTS, "passage").dense)
    assert LocalEngine().load_pair(tiny_e5, retrained_copy(tiny_e5, tmp_path / "bottom", layer=0)) is None


@pytest.mark.slow
def test_ray_encodes_a_shared_bottom_pair_as_each_model_alone(ray_cluster, tiny_e5, tmp_path):
    """The pair's batches cut as the first model's encoding cuts them: each model's local bytes, for both kinds."""
    from tiny_support import retrained_copy

    tuned = retrained_copy(tiny_e5, tmp_path / "tuned", layer=-1)
    engine = RayEngine(workers=2, batch_size=10)
    pair = engine.load_pair(tuned, tiny_e5, batch_size=4, **LENGTHS)
    for kind in ("passage", "query"):
        for model, vectors in zip((tuned, tiny_e5), pair.dense(TEXTS, kind), strict=True):
            alone = load_encoder(model, batch_size=4, **LENGTHS).encode(TEXTS, kind).dense
            assert vectors.tobytes() == alone.tobytes()
    assert [v.shape for v in pair.dense([], "query")] == [(0, 32), (0, 32)]
    assert engine.load_pair(tiny_e5, retrained_copy(tiny_e5, tmp_path / "bottom", layer=0), batch_size=4) is None
