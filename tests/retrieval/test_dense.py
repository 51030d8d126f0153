"""BGE-M3 encoding through FlagEmbedding on the tiny model, FAISS indexes, lexical scores."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest
from tiny_support import SENTENCES

from ragtune.config.schema import ParamsError
from ragtune.models.encoders import M3Encoder
from ragtune.retrieval.dense import build_faiss, describe, load_faiss, save_faiss, search
from ragtune.retrieval.m3 import load_sparse_matrix, save_sparse_matrix, sparse_matrix, sparse_scores


@pytest.fixture(scope="module")
def encoder(tiny_embedder):
    return M3Encoder(
        tiny_embedder,
        device="cpu",
        batch_size=8,
        query_max_length=16,
        passage_max_length=64,
    )


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
    matrix = sparse_matrix(corpus.lexical, encoder.vocab_size)
    query = encoder.encode([SENTENCES[3]], "query").lexical[0]
    expected = [encoder.model.compute_lexical_matching_score(query, doc) for doc in corpus.lexical]
    np.testing.assert_allclose(sparse_scores(query, matrix), expected, rtol=1e-5, atol=1e-6)
    both = sparse_scores([query, query], matrix)
    assert both.shape == (2, len(SENTENCES)) and np.allclose(both[0], both[1])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        sparse_matrix([{"999999": 1.0}], encoder.vocab_size)


def test_lexical_matrix_round_trip_is_byte_stable(encoder, corpus, tmp_path):
    matrix = sparse_matrix(corpus.lexical, encoder.vocab_size)
    save_sparse_matrix(matrix, tmp_path / "a.npz")
    save_sparse_matrix(matrix, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_sparse_matrix(tmp_path / "a.npz")
    assert (loaded != matrix).nnz == 0


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_faiss_kinds_find_the_same_nearest_neighbour(corpus, kind, tmp_path):
    index = build_faiss(corpus.dense, kind, nlist=2, hnsw_m=8)
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
    assert (
        hashlib.sha256((tmp_path / "a").read_bytes()).digest() == hashlib.sha256((tmp_path / "b").read_bytes()).digest()
    )


# --- approximate indexes on clustered random vectors ---------------------------------------------


@pytest.fixture(scope="module")
def clustered():
    """4,000 unit vectors of dimension 64 near 8-dimensional patches around 40 centres (a low intrinsic dimension,
    as real encodings have), and 50 queries drawn the same way; FAISS on one thread (k-means and PQ training crawl
    when OpenMP's threads wait on each other on a shared machine)."""
    import faiss

    rng = np.random.default_rng(0)
    centres, patches = rng.standard_normal((40, 64)), rng.standard_normal((40, 8, 64))

    def around(n):
        near = rng.integers(0, 40, n)
        offsets = np.einsum("nk,nkd->nd", rng.standard_normal((n, 8)), patches[near])
        points = centres[near] + 0.3 * offsets + 0.05 * rng.standard_normal((n, 64))
        return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield around(4000), around(50)
    faiss.omp_set_num_threads(threads)


APPROXIMATE = {  # kind → (settings, the recall@10 against flat it must reach on the clustered set)
    "hnsw": ({"hnsw_m": 16, "ef_search": 64}, 0.95),
    "ivf": ({"nlist": 40, "nprobe": 8}, 0.9),
    "ivfpq": ({"nlist": 40, "nprobe": 8, "pq_m": 16, "pq_nbits": 8, "train_sample": 2000}, 0.75),
}


@pytest.mark.parametrize("kind", sorted(APPROXIMATE))
def test_approximate_indexes_find_most_of_the_exact_neighbours_and_survive_a_round_trip(clustered, kind, tmp_path):
    vectors, queries = clustered
    options, bound = APPROXIMATE[kind]
    exact = search(build_faiss(vectors, "flat"), queries, 10)[1]
    index = build_faiss(vectors, kind, chunk=1000, **options)
    scores, ids = search(index, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact)])
    assert recall >= bound, f"{kind}: recall@10 {recall:.3f} against flat"
    assert np.all(np.diff(scores, axis=1) <= 1e-5)  # best first
    save_faiss(index, tmp_path / "index.faiss")
    again = load_faiss(tmp_path / "index.faiss")  # the search settings travel with the index
    assert describe(again) == describe(index) and np.array_equal(search(again, queries, 10)[1], ids)


def test_ivfpq_trains_on_a_seeded_sample_with_automatic_lists(clustered, tmp_path):
    vectors = clustered[0]
    built = [build_faiss(vectors, "ivfpq", train_sample=1000, pq_nbits=6, seed=seed) for seed in (1, 1, 2)]
    for index, name in zip(built, "aab"):
        save_faiss(index, tmp_path / name)
    assert (tmp_path / "a").read_bytes() != (tmp_path / "b").read_bytes()  # another sample, other centroids
    assert describe(built[0]) == "ivf (25 lists, nprobe 25, PQ 8x6)"  # 4·√4000 = 253, at most 1000 / 39 lists
    rebuilt = build_faiss(vectors, "ivfpq", train_sample=1000, pq_nbits=6, seed=1)
    assert np.array_equal(search(rebuilt, vectors[:20], 5)[1], search(built[0], vectors[:20], 5)[1])


def test_flat_bytes_do_not_depend_on_chunks_or_a_memory_mapped_source(clustered, tmp_path):
    import faiss

    vectors = clustered[0]
    reference = faiss.IndexFlatIP(vectors.shape[1])
    reference.add(vectors)  # what the index stage built before chunks: one add of the whole array
    on_disk = np.lib.format.open_memmap(tmp_path / "v.npy", mode="w+", dtype=np.float32, shape=vectors.shape)
    on_disk[:] = vectors
    for source, chunk in ((vectors, 4000), (on_disk, 333)):
        built = build_faiss(source, "flat", chunk=chunk)
        assert faiss.serialize_index(built).tobytes() == faiss.serialize_index(reference).tobytes()


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"nlist": 500, "train_sample": 300}, "index.ivf.nlist"),
        ({"nlist": 4, "pq_m": 7}, "index.pq.m"),
        ({"nlist": 4, "pq_nbits": 10, "train_sample": 1000}, "index.pq.nbits"),
    ],
)
def test_settings_the_corpus_cannot_train_fail_in_one_line_naming_them(clustered, options, key):
    with pytest.raises(ParamsError, match=key.replace(".", r"\.")) as raised:
        build_faiss(clustered[0], "ivfpq", **options)
    assert "\n" not in str(raised.value)


def test_missing_faiss_names_the_extra_that_installs_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now fails as if it were not installed
    with pytest.raises(ImportError, match=r'pip install -e "\.\[cpu\]"'):
        build_faiss(np.ones((2, 4), np.float32), "flat")


# --- the encoder interface: specs, load_encoder, E5 ---------------------------------------------


def test_load_encoder_serves_both_families(tiny_embedder, tiny_e5):
    from ragtune.models.encoders import E5Encoder, M3Encoder, load_encoder, read_spec

    m3 = load_encoder(tiny_embedder, device="cpu")
    e5 = load_encoder(tiny_e5, device="cpu")
    assert isinstance(m3, M3Encoder) and isinstance(e5, E5Encoder)
    assert read_spec(tiny_e5).query_prefix == "query: " and e5.max_length == {"query": 16, "passage": 48}
    for encoder in (m3, e5):
        encoded = encoder.encode(SENTENCES[:3], kind="passage", lexical=False)
        assert encoded.dense.shape == (3, encoder.dimension) and encoded.dense.dtype == np.float32
        assert np.allclose(np.linalg.norm(encoded.dense, axis=1), 1.0, atol=1e-5)


def test_e5_encoder_is_flagembeddings_mean_pooled_prefixed_embedding(tiny_e5):
    from FlagEmbedding import FlagModel

    from ragtune.models.encoders import load_encoder

    directory = tiny_e5
    encoder = load_encoder(directory, device="cpu")
    reference = FlagModel(
        str(directory), pooling_method="mean", use_fp16=False, devices="cpu", normalize_embeddings=True
    )
    expected = reference.encode_single_device(["query: " + SENTENCES[0]], max_length=16, device="cpu")
    assert np.allclose(encoder.encode(SENTENCES[:1], kind="query").dense, expected, atol=1e-5)
    # the prefixes make a query and a passage of one text differ
    assert not np.allclose(
        encoder.encode(SENTENCES[:1], kind="query").dense, encoder.encode(SENTENCES[:1], kind="passage").dense
    )
    with pytest.raises(ValueError, match="index.m3_sparse"):
        encoder.encode(SENTENCES[:1], kind="passage", lexical=True)
    with pytest.raises(ValueError, match="retrieval.colbert"):
        encoder.encode(SENTENCES[:1], kind="passage", colbert=True)


def test_int8_quantisation_is_a_switch(tiny_e5):
    from ragtune.models.encoders import load_encoder

    directory = tiny_e5
    fp32 = load_encoder(directory, device="cpu").encode(SENTENCES, kind="passage").dense
    int8 = load_encoder(directory, device="cpu", quantize="int8").encode(SENTENCES, kind="passage").dense
    assert (fp32 * int8).sum(axis=1).min() > 0.9  # close, not equal (faithfulness is measured by a benchmark)
    with pytest.raises(ValueError, match="index.quantize"):
        load_encoder(directory, device="cpu", quantize="int4")


# --- index.devices: one device, or FlagEmbedding's multi-process pool over several -----------------


def test_devices_default_to_one_and_name_the_memo_key():
    from ragtune.models.encoders import default_device, devices_key, encoding_devices

    assert encoding_devices(None) == [default_device()] and devices_key(None) == default_device()
    assert encoding_devices("cuda:1") == ["cuda:1"]
    assert encoding_devices(["cuda:0", "cuda:1"]) == ["cuda:0", "cuda:1"]
    assert devices_key(["cuda:0", "cuda:1"]) == "cuda:0,cuda:1"
    for nothing in ([], [""]):
        with pytest.raises(ValueError, match="index.devices"):
            encoding_devices(nothing)


def test_a_device_list_reaches_flagembeddings_devices_and_its_pool(tiny_embedder, tiny_e5, monkeypatch):
    """Several devices: FlagEmbedding gets the list (its target devices) and encode() (its pool), not
    encode_single_device; the first device decides fp16. The pool itself is exercised on CPUs below."""
    import FlagEmbedding

    from ragtune.models.encoders import load_encoder

    made = []

    def spy(cls):
        class Spy(cls):
            def __init__(self, *args, **kwargs):
                made.append(dict(kwargs))
                kwargs["devices"] = "cpu"  # no GPUs here: build it on the CPU, as one device
                super().__init__(*args, **kwargs)
                self.calls = []

            def encode(self, *args, **kwargs):
                self.calls.append("encode")
                return self.encode_single_device(*args, device="cpu", **kwargs)

        return Spy

    monkeypatch.setattr(FlagEmbedding, "BGEM3FlagModel", spy(FlagEmbedding.BGEM3FlagModel))
    monkeypatch.setattr(FlagEmbedding, "FlagModel", spy(FlagEmbedding.FlagModel))
    for directory in (tiny_embedder, tiny_e5):
        made.clear()
        encoder = load_encoder(directory, device=["cuda:0", "cuda:1"])
        assert made[0]["devices"] == ["cuda:0", "cuda:1"] and made[0]["use_fp16"] is True
        assert encoder.encode(SENTENCES[:2], kind="passage").dense.shape[0] == 2
        assert encoder.model.calls == ["encode"]
        with pytest.raises(ValueError, match="CPU only"):
            load_encoder(directory, device=["cpu", "cuda:0"], quantize="int8")


@pytest.mark.slow  # spawns two worker processes that import torch and FlagEmbedding (~15 s on 2 cores)
def test_a_pool_of_two_cpu_processes_encodes_as_one_device(tiny_embedder):
    """FlagEmbedding's real multi-process pool (spawned workers), on two CPU "devices": the same vectors."""
    from ragtune.models.encoders import load_encoder

    directory = tiny_embedder
    texts = SENTENCES * 2
    single = load_encoder(directory, device="cpu", batch_size=4).encode(texts, kind="passage", lexical=True)
    pool = load_encoder(directory, device=["cpu", "cpu"], batch_size=4)
    try:
        pooled = pool.encode(texts, kind="passage", lexical=True)
        assert pool.model.pool is not None and len(pool.model.pool["processes"]) == 2
    finally:
        pool.model.stop_self_pool()
    np.testing.assert_allclose(pooled.dense, single.dense, atol=1e-5)
    assert [set(w) for w in pooled.lexical] == [set(w) for w in single.lexical]


def test_pointer_directories_resolve_and_default_to_m3(tmp_path):
    from ragtune.models.encoders import M3_SPEC, read_spec
    from ragtune.models.hub import resolve_model
    from ragtune.models.sources import write_pointer

    write_pointer(tmp_path / "hub", "BAAI/bge-m3")
    assert resolve_model(tmp_path / "hub") == "BAAI/bge-m3" and read_spec(tmp_path / "hub") == M3_SPEC
    write_pointer(tmp_path / "none", None)
    with pytest.raises(ValueError, match="points at no model"):
        resolve_model(tmp_path / "none")


def test_encoding_memo_encodes_each_text_once(tmp_path):
    from ragtune.cache.encodings import EncodingMemo

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights").write_bytes(b"v1")
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return np.asarray([[len(t), 1.0] for t in texts], np.float32)

    memo = EncodingMemo(tmp_path / "memo", tmp_path / "model", "passage", 48)
    first = memo.encode(["aa", "b"], encode)
    again = EncodingMemo(tmp_path / "memo", tmp_path / "model", "passage", 48)
    both = again.encode(["b", "ccc", "aa"], encode)
    assert calls == [["aa", "b"], ["ccc"]] and (again.remembered, again.encoded) == (2, 1)
    assert np.array_equal(both[[2, 0]], first) and both[1].tolist() == [3.0, 1.0]
    (tmp_path / "model" / "weights").write_bytes(b"v2")  # other model bytes: nothing remembered
    EncodingMemo(tmp_path / "memo", tmp_path / "model", "passage", 48).encode(["b"], encode)
    assert calls[-1] == ["b"]
