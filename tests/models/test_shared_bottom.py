"""ragtune.models.shared_bottom: a pair that shares its bottom encodes each model's very bytes, and pairs only then."""

import logging
from pathlib import Path

import numpy as np
import pytest
from tiny_support import SENTENCES, retrained_copy

from ragtune.models.encoders import load_encoder
from ragtune.models.shared_bottom import PairedHalves, bottom_shared, load_pair, shared_layers

TEXTS = [*SENTENCES, SENTENCES[0], "짧은 글", "a" * 400, SENTENCES[3][:7]]  # a repeat, a truncated one, a short one


@pytest.fixture(scope="module")
def tuned_top(tiny_e5, tmp_path_factory) -> Path:
    return retrained_copy(tiny_e5, tmp_path_factory.mktemp("pair") / "tuned", layer=-1)


@pytest.mark.parametrize("kind", ["passage", "query"])
def test_the_pair_gives_each_model_the_bytes_its_own_encoder_gives(tiny_e5, tuned_top, kind):
    pair = load_pair(tuned_top, tiny_e5, batch_size=4)
    assert pair is not None and pair.layers == 1
    tuned, base = pair.encode(TEXTS, kind=kind)
    for model, got in ((tuned_top, tuned), (tiny_e5, base)):
        alone = load_encoder(model, batch_size=4).encode(TEXTS, kind=kind).dense
        assert got.dense.dtype == np.float32 and np.array_equal(got.dense, alone)
    assert not np.array_equal(tuned.dense, base.dense)
    again, _ = pair.encode(TEXTS[3:9], kind=kind)  # another call, other batches: the pair keeps no batch behind
    assert np.array_equal(again.dense, load_encoder(tuned_top, batch_size=4).encode(TEXTS[3:9], kind=kind).dense)


def test_in_bf16_the_pair_gives_each_model_the_bytes_its_own_bf16_encoder_gives(tiny_e5, tuned_top):
    pair = load_pair(tuned_top, tiny_e5, batch_size=4, precision="bf16")
    both = pair.encode(TEXTS, "passage")
    for encoded, model in zip(both, (tuned_top, tiny_e5), strict=True):
        alone = load_encoder(model, batch_size=4, precision="bf16").encode(TEXTS, kind="passage").dense
        assert np.array_equal(encoded.dense, alone)
        assert not np.array_equal(alone, load_encoder(model, batch_size=4).encode(TEXTS, kind="passage").dense)


def test_the_log_names_what_is_shared_and_a_command_s_output_gets_nothing(tiny_e5, tuned_top, caplog, capsys):
    with caplog.at_level(logging.INFO, logger="ragtune"):
        load_pair(tuned_top, tiny_e5)
    assert "tuned and e5 share their embeddings and 1 of 2 layers" in caplog.text
    assert capsys.readouterr().out == ""  # `ragtune search --json` prints its results alone


def test_nothing_to_encode_gives_empty_vectors_of_the_models_width(tiny_e5, tuned_top):
    tuned, base = load_pair(tuned_top, tiny_e5).encode([], kind="passage")
    assert tuned.dense.shape == base.dense.shape == (0, 32)


def test_models_pair_only_where_they_share_the_embeddings_and_a_bottom_layer(tiny_e5, tuned_top, tmp_path):
    from transformers import AutoModel

    base = AutoModel.from_pretrained(tiny_e5)
    assert shared_layers(base, AutoModel.from_pretrained(tiny_e5)) == 2
    assert shared_layers(AutoModel.from_pretrained(tuned_top), base) == 1
    bottom_moved = retrained_copy(tiny_e5, tmp_path / "bottom", layer=0)
    assert shared_layers(AutoModel.from_pretrained(bottom_moved), base) == 0
    assert load_pair(bottom_moved, tiny_e5) is None
    assert load_pair(retrained_copy(tiny_e5, tmp_path / "embeddings", embeddings=True), tiny_e5) is None


def test_settings_the_pair_cannot_reproduce_leave_the_models_apart(tiny_e5, tuned_top, tiny_embedder):
    assert load_pair(tuned_top, tiny_e5, quantize="int8") is None  # quantised apart, not together
    assert load_pair(tuned_top, tiny_e5, device=["cpu", "cpu"]) is None  # FlagEmbedding's process pool
    assert load_pair(tiny_embedder, tiny_e5) is None  # BGE-M3's layout: its own encoder


def test_after_a_joint_pass_each_model_still_encodes_alone_as_its_own_encoder(tiny_e5, tuned_top):
    pair = load_pair(tuned_top, tiny_e5, batch_size=4)
    pair.encode(TEXTS, kind="passage")
    for model, encoder in ((tuned_top, pair.first), (tiny_e5, pair.second)):
        alone = load_encoder(model, batch_size=4).encode(TEXTS, kind="query").dense
        assert np.array_equal(encoder.encode(TEXTS, kind="query").dense, alone)


def test_a_half_encodes_both_only_when_its_partner_will_be_asked_and_the_partner_then_takes_its_share(
    tiny_e5, tuned_top
):
    pair = load_pair(tuned_top, tiny_e5, batch_size=4)
    passes = []
    joint = pair.encode
    pair.encode = lambda texts, kind: passes.append(list(texts)) or joint(texts, kind)
    partner_asked = {0: True, 1: True}
    halves = PairedHalves(lambda: pair, pytest.fail, lambda partner, texts: partner_asked[partner])
    tuned, base = halves.half(0), halves.half(1)
    alone = {m: load_encoder(m, batch_size=4).encode(TEXTS, kind="query").dense for m in (tuned_top, tiny_e5)}
    assert np.array_equal(base.encode(TEXTS, kind="query").dense, alone[tiny_e5])
    assert np.array_equal(tuned.encode(TEXTS, kind="query").dense, alone[tuned_top])
    assert passes == [TEXTS]  # the base's ask encoded both; the tuned model's took what was kept
    partner_asked[1] = False  # the base's search remembered: the tuned model encodes alone
    assert np.array_equal(tuned.encode(TEXTS, kind="query").dense, alone[tuned_top])
    assert passes == [TEXTS] and tuned.dimension == 32
    with pytest.raises(ValueError, match="no lexical weights"):
        tuned.encode(TEXTS, kind="query", lexical=True)


def test_a_half_whose_partner_has_nothing_to_encode_loads_its_model_alone_and_never_the_pair(tiny_e5, tuned_top):
    loaded = []
    halves = PairedHalves(
        lambda: pytest.fail("the pair was loaded"),
        lambda index: loaded.append(index) or load_encoder((tuned_top, tiny_e5)[index], batch_size=4),
        lambda partner, texts: False,  # the partner's searches are remembered (a retrained model's base)
    )
    alone = load_encoder(tuned_top, batch_size=4).encode(TEXTS, kind="query").dense
    assert np.array_equal(halves.half(0).encode(TEXTS, kind="query").dense, alone)
    assert np.array_equal(halves.half(0).encode(TEXTS[:2], kind="query").dense, alone[:2])
    assert loaded == [0]  # once


def test_halves_of_models_that_share_nothing_encode_each_alone(tiny_e5, tmp_path):
    from tiny_support import retrained_copy

    apart = retrained_copy(tiny_e5, tmp_path / "apart", embeddings=True)
    models = (apart, tiny_e5)
    halves = PairedHalves(
        lambda: load_pair(*models, batch_size=4), lambda i: load_encoder(models[i], batch_size=4), lambda *_: True
    )
    for index, model in enumerate(models):
        alone = load_encoder(model, batch_size=4).encode(TEXTS, kind="query").dense
        assert np.array_equal(halves.half(index).encode(TEXTS, kind="query").dense, alone)
    assert halves.pair is None


def test_the_weights_alone_say_what_load_pair_would_find(tiny_e5, tuned_top, tiny_embedder, tmp_path):
    assert bottom_shared(tuned_top, tiny_e5, batch_size=4) == 1  # a driver's check: no encoder built
    assert bottom_shared(retrained_copy(tiny_e5, tmp_path / "bottom", layer=0), tiny_e5) == 0
    assert bottom_shared(tuned_top, tiny_e5, quantize="int8") == 0
    assert bottom_shared(tuned_top, tiny_e5, passage_max_length=None, query_max_length=8) == 1  # the same for both
    assert bottom_shared(tiny_embedder, tiny_e5) == 0


def test_a_joint_pass_leaves_no_hook_replay_or_hidden_state_behind(tiny_e5, tuned_top):
    pair = load_pair(tuned_top, tiny_e5, batch_size=4)
    layers = list(pair.second.model.model.encoder.layer)
    hooks = [dict(layer._forward_hooks) for layer in pair.first.model.model.encoder.layer]
    pair.encode(TEXTS, kind="passage")
    assert list(pair.second.model.model.encoder.layer) == layers
    assert [dict(layer._forward_hooks) for layer in pair.first.model.model.encoder.layer] == hooks
    assert pair._held == [None]
