"""ragtune.models.shared_bottom: a pair that shares its bottom encodes each model's very bytes, and pairs only then."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from tiny_support import SENTENCES

from ragtune.models.encoders import load_encoder
from ragtune.models.shared_bottom import load_pair, shared_layers

TEXTS = [*SENTENCES, SENTENCES[0], "짧은 글", "a" * 400, SENTENCES[3][:7]]  # a repeat, a truncated one, a short one


def _retrained(base: Path, out: Path, *, layer: int | None = None, embeddings: bool = False) -> Path:
    """A copy of `base` with one layer's (or the embeddings') weights moved, as a fine-tuning would."""
    import torch
    from transformers import AutoModel

    shutil.copytree(base, out)
    model = AutoModel.from_pretrained(out)
    moved = model.embeddings if embeddings else model.encoder.layer[layer]
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in moved.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tuned_top(tiny_e5, tmp_path_factory) -> Path:
    return _retrained(tiny_e5, tmp_path_factory.mktemp("pair") / "tuned", layer=-1)


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


def test_nothing_to_encode_gives_empty_vectors_of_the_models_width(tiny_e5, tuned_top):
    tuned, base = load_pair(tuned_top, tiny_e5).encode([], kind="passage")
    assert tuned.dense.shape == base.dense.shape == (0, 32)


def test_models_pair_only_where_they_share_the_embeddings_and_a_bottom_layer(tiny_e5, tuned_top, tmp_path):
    from transformers import AutoModel

    base = AutoModel.from_pretrained(tiny_e5)
    assert shared_layers(base, AutoModel.from_pretrained(tiny_e5)) == 2
    assert shared_layers(AutoModel.from_pretrained(tuned_top), base) == 1
    bottom_moved = _retrained(tiny_e5, tmp_path / "bottom", layer=0)
    assert shared_layers(AutoModel.from_pretrained(bottom_moved), base) == 0
    assert load_pair(bottom_moved, tiny_e5) is None
    assert load_pair(_retrained(tiny_e5, tmp_path / "embeddings", embeddings=True), tiny_e5) is None


def test_settings_the_pair_cannot_reproduce_leave_the_models_apart(tiny_e5, tuned_top, tiny_embedder):
    assert load_pair(tuned_top, tiny_e5, quantize="int8") is None  # quantised apart, not together
    assert load_pair(tuned_top, tiny_e5, device=["cpu", "cpu"]) is None  # FlagEmbedding's process pool
    assert load_pair(tiny_embedder, tiny_e5) is None  # BGE-M3's layout: its own encoder
