"""The passage-encoding memo: remembered texts are not encoded again, results fill a caller's array chunk by chunk
(a memory-mapped .npy at scale) without a second whole-corpus copy, and earlier single-file memos still answer."""

from __future__ import annotations

import tracemalloc

import numpy as np

from ragtune.cache.encodings import EncodingMemo, encode_together, on_disk, text_key


def fake_encode(calls: list[list[str]], dim: int = 6):
    """A deterministic encoder (each text's vector from its sha256) that records what it was asked."""

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        seeds = (int.from_bytes(text_key(t)[:8], "little") for t in texts)
        return np.array([np.random.default_rng(seed).random(dim) for seed in seeds], np.float32)

    return encode


def test_remembered_texts_are_not_encoded_again_and_order_and_repeats_hold(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights").write_text("w")
    calls: list[list[str]] = []
    texts = ["a", "b", "a", "c", "d", "b", "e"]
    expected = fake_encode([])(texts)
    memo = EncodingMemo(tmp_path / "memo", model, "passage", 64)
    first = memo.encode_into(texts, fake_encode(calls), chunk=3)
    assert np.array_equal(first, expected) and (memo.encoded, memo.remembered) == (5, 0)
    assert calls == [["a", "b"], ["c", "d"], ["e"]]  # each distinct text once, a chunk at a time
    calls.clear()
    more = ["e", "f", "a", "f"]
    again = EncodingMemo(tmp_path / "memo", model, "passage", 64)
    assert np.array_equal(again.encode(more, fake_encode(calls)), fake_encode([])(more))
    assert calls == [["f"]] and (again.encoded, again.remembered) == (1, 2)
    assert len(list((tmp_path / "memo").rglob("*.keys.npy"))) == 2  # one part per run that encoded something
    assert not list((tmp_path / "memo").rglob("*tmp*"))
    calls.clear()
    other = EncodingMemo(tmp_path / "memo", model, "passage", 128)  # other settings: another memo
    other.encode(["a"], fake_encode(calls))
    assert calls == [["a"]]


def test_a_memo_written_as_one_archive_still_answers(tmp_path):
    legacy = EncodingMemo(tmp_path, tmp_path / "model", "passage")
    vectors = fake_encode([])(["x", "y"])
    order = sorted([text_key("x"), text_key("y")])
    by_key = {text_key("x"): vectors[0], text_key("y"): vectors[1]}
    np.savez(
        legacy.legacy,
        keys=np.asarray([np.frombuffer(k, np.uint8) for k in order]),
        vectors=np.stack([by_key[k] for k in order]),
    )
    calls: list[list[str]] = []
    assert np.array_equal(legacy.encode(["y", "z", "x"], fake_encode(calls)), fake_encode([])(["y", "z", "x"]))
    assert calls == [["z"]] and legacy.remembered == 2


def test_a_corpus_encoded_to_disk_is_never_held_in_memory_whole(tmp_path):
    texts = [f"passage {i}" for i in range(20_000)]
    dim = 384  # e5-small's: 20,000 x 384 float32 = 30.7 MB
    memo = EncodingMemo(tmp_path / "memo", tmp_path / "model", "passage")
    tracemalloc.start()
    try:
        vectors = memo.encode_into(texts, fake_encode([], dim), on_disk(tmp_path / "corpus.npy"), chunk=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(vectors, np.memmap) and vectors.shape == (20_000, dim)
    assert peak < 0.5 * vectors.nbytes, f"peak {peak / 1e6:.1f} MB for {vectors.nbytes / 1e6:.1f} MB of vectors"
    assert np.array_equal(vectors[12_345], fake_encode([], dim)([texts[12_345]])[0])
    remembered = EncodingMemo(tmp_path / "memo", tmp_path / "model", "passage")
    tracemalloc.start()
    try:
        again = remembered.encode_into(texts, fake_encode([], dim), on_disk(tmp_path / "again.npy"), chunk=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert remembered.remembered == 20_000 and np.array_equal(again, vectors)
    assert peak < 0.5 * vectors.nbytes  # copied from the memory-mapped memo a chunk at a time


def test_texts_no_memo_knows_are_encoded_once_for_all_and_each_memo_then_answers_them(tmp_path):
    first, second = EncodingMemo(tmp_path, "a"), EncodingMemo(tmp_path, "b")
    first.encode(["known to a"], fake_encode([]))
    texts = ["x", "known to a", "y", "x", "z", "w"]
    batches = []

    def both(batch: list[str]) -> list[np.ndarray]:
        batches.append(batch)
        return [fake_encode([])(batch), 2 * fake_encode([])(batch)]

    assert encode_together([first, second], texts, lambda: both, chunk=3) == 4
    assert batches == [["x", "y"], ["z", "w"]]  # encode_into's windows of 3: each text where it is first met
    calls = []
    assert np.array_equal(first.encode(texts, fake_encode(calls)), fake_encode([])(texts))
    assert calls == [] and first.remembered == len(texts)
    answered = second.encode(texts, fake_encode(calls))
    assert calls == [["known to a"]]  # known to one memo only: left to the other's own encoder
    assert np.array_equal(answered[[0, 2, 3, 4, 5]], 2 * fake_encode([])(["x", "y", "x", "z", "w"]))


def test_nothing_is_loaded_or_written_when_no_text_is_new_to_all_or_no_joint_encoder_applies(tmp_path):
    memo = EncodingMemo(tmp_path, "a")
    memo.encode(["x"], fake_encode([]))

    def never():
        raise AssertionError("loaded with nothing to encode")

    assert encode_together([memo], ["x", "x"], never) == 0
    before = sorted(tmp_path.rglob("*"))
    assert encode_together([memo, EncodingMemo(tmp_path, "b")], ["x", "y"], lambda: None) == 0
    assert sorted(tmp_path.rglob("*")) == before
