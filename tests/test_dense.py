"""BGE-M3 encoding through FlagEmbedding on the tiny model, FAISS indexes, lexical scores."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from ragtune.dense import (
    M3Encoder, build_faiss, lexical_matrix, lexical_scores, load_faiss, load_lexical_matrix, save_faiss,
    save_lexical_matrix, search,
)
from test_tiny import SENTENCES, build_embedder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return M3Encoder(build_embedder(tmp_path_factory.mktemp("dense") / "embedder"), device="cpu", batch_size=8,
                     query_max_length=16, passage_max_length=64)


@pytest.fixture(scope="module")
def corpus(encoder):
    return encoder.encode(SENTENCES, "passage")


def test_encode_gives_unit_float32_vectors_and_lexical_weights(encoder, corpus):
    assert corpus.dense.dtype == np.float32 and corpus.dense.shape == (len(SENTENCES), encoder.dimension)
    np.testing.assert_allclose(np.linalg.norm(corpus.dense, axis=1), 1.0, rtol=1e-5)
    assert len(corpus.lexical) == len(SENTENCES)
    assert all(weights and all(isinstance(k, str) and v > 0 for k, v in weights.items()) for weights in corpus.lexical)
    special = {str(i) for i in range(4)}  # <s> <pad> </s> <unk> carry no lexical weight
    assert not any(special & set(weights) for weights in corpus.lexical)
    assert encoder.encode([], "query").dense.shape == (0, encoder.dimension)
    with pytest.raises(ValueError):
        encoder.encode(["x"], "document")


def test_query_and_passage_lengths_differ(encoder):
    long_text = " ".join(SENTENCES)
    as_query, as_passage = encoder.encode([long_text], "query"), encoder.encode([long_text], "passage")
    assert len(as_query.lexical[0]) < len(as_passage.lexical[0])  # queries are truncated to 16 tokens


def test_lexical_scores_match_flagembedding(encoder, corpus):
    matrix = lexical_matrix(corpus.lexical, encoder.vocab_size)
    query = encoder.encode([SENTENCES[3]], "query").lexical[0]
    expected = [encoder.model.compute_lexical_matching_score(query, doc) for doc in corpus.lexical]
    np.testing.assert_allclose(lexical_scores(query, matrix), expected, rtol=1e-5, atol=1e-6)
    both = lexical_scores([query, query], matrix)
    assert both.shape == (2, len(SENTENCES)) and np.allclose(both[0], both[1])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        lexical_matrix([{"999999": 1.0}], encoder.vocab_size)


def test_lexical_matrix_round_trip_is_byte_stable(encoder, corpus, tmp_path):
    matrix = lexical_matrix(corpus.lexical, encoder.vocab_size)
    save_lexical_matrix(matrix, tmp_path / "a.npz")
    save_lexical_matrix(matrix, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_lexical_matrix(tmp_path / "a.npz")
    assert (loaded != matrix).nnz == 0


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_faiss_kinds_find_the_same_nearest_neighbour(corpus, kind, tmp_path):
    index = build_faiss(corpus.dense, kind, nlist=2, m=8)
    scores, ids = search(index, corpus.dense[:5], 3)
    assert ids.shape == (5, 3) and ids[:, 0].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(scores[:, 0], 1.0, rtol=1e-4)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    save_faiss(index, tmp_path / "index.faiss")
    again = load_faiss(tmp_path / "index.faiss")
    assert np.array_equal(search(again, corpus.dense[:5], 3)[1], ids)


def test_flat_search_is_exact_inner_product_and_k_is_clamped(corpus):
    index = build_faiss(corpus.dense, "flat", use_gpu=True)  # no GPU here: falls back to CPU
    queries = corpus.dense[[7]]
    scores, ids = search(index, queries, 100)
    assert ids.shape == (1, len(SENTENCES))
    expected = corpus.dense @ queries[0]
    np.testing.assert_allclose(scores[0], np.sort(expected)[::-1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        build_faiss(corpus.dense, "lsh")


def test_saved_flat_index_is_byte_stable(corpus, tmp_path):
    for name in ("a", "b"):
        save_faiss(build_faiss(corpus.dense, "flat"), tmp_path / name)
    assert hashlib.sha256((tmp_path / "a").read_bytes()).digest() == hashlib.sha256((tmp_path / "b").read_bytes()).digest()
