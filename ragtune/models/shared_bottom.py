"""Two E5 encoders that share their frozen bottom: the shared layers run once, each model's top layers on them.

A model fine-tuned with `train.train_top_layers` (and frozen embeddings) keeps the base model's embeddings and
lower layers bit for bit: with e5-small's defaults, 10 of 12 layers. The pipeline encodes the same texts with both
models (the base is reported beside the fine-tuned one: train's selection, index's corpus, retrieve's questions),
so a pair costs one model and two top layers instead of two models. `SharedBottomPair.encode` gives each model's
vectors exactly as its own `E5Encoder.encode` would (the same bytes: FlagEmbedding's batches, pooling and
normalisation, run on the very hidden states the shared layers give), which a test checks against the encoders.

`shared_layers` finds what two loaded models share by comparing their weights, so nothing is trusted from a file;
`load_pair` returns None wherever pairing does not apply (another family, tokenizers that differ, nothing shared,
int8 quantisation, several devices) and callers then encode each model on its own. `joint_encoder` feeds the
encoding memos (`ragtune.cache.encodings.encode_together`), `PairedHalves` the two query encoders of retrieve;
`ragtune.compute` runs the pair on an engine's actors (`Engine.load_pair`, checked first by `bottom_shared`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from ragtune.models.encoders import E5Encoder, Encoded, encoding_devices, l2_normalise, load_encoder, resolve_spec


def shared_layers(first, second) -> int:
    """How many bottom layers two BERT-layout models (`model.embeddings`, `model.encoder.layer`) share with their
    embeddings, weight for weight: 0 when the embeddings (or the layouts) differ."""
    import torch

    def equal(a, b) -> bool:
        sa, sb = a.state_dict(), b.state_dict()
        return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)

    try:
        layers = list(zip(first.encoder.layer, second.encoder.layer, strict=True))
    except (AttributeError, ValueError):
        return 0
    if not equal(first.embeddings, second.embeddings):
        return 0
    count = 0
    for a, b in layers:
        if not equal(a, b):
            break
        count += 1
    return count


def same_tokenizer(first, second) -> bool:
    """Whether two fast tokenizers turn any text into the same ids and pad it alike: their serialised pipelines, but
    for the truncation and padding each call sets anyway (a fine-tuned model's copy is saved with the trainer's)."""

    def pipeline(tokenizer) -> tuple:
        if not getattr(tokenizer, "is_fast", False):
            return ()
        described = json.loads(tokenizer.backend_tokenizer.to_str())
        described.pop("truncation", None), described.pop("padding", None)
        return described, tokenizer.pad_token_id, tokenizer.padding_side

    return bool(pipeline(first)) and pipeline(first) == pipeline(second)


def _replay(held: list):
    """A torch Module standing in for one of the second model's shared layers: it gives back what the first model's
    last shared layer gave for this batch (the layers below skip their work; the next one reads only this)."""
    import torch

    class Replay(torch.nn.Module):
        def forward(self, *args, **kwargs):
            return held[0]

    return Replay()


class SharedBottomPair:
    """`encode(texts, kind)` → (first's Encoded, second's Encoded), the shared bottom run once per batch. `first` and
    `second` stay whole encoders, for a text only one of them is asked for."""

    def __init__(self, first: E5Encoder, second: E5Encoder, layers: int):
        import torch

        self.first, self.second, self.layers = first, second, layers
        self.batch_size, self.prefix, self.max_length = first.batch_size, first.prefix, first.max_length
        self.device = first.device
        self._held: list = [None]
        second.model.model.embeddings = first.model.model.embeddings  # equal weights: held once (e5-small: 96M of 118M)
        self._replays = [_replay(self._held) for _ in range(layers)]  # stand in for second's shared layers in a pass
        for encoder in (first, second):  # as FlagEmbedding's encode_single_device prepares its model
            if self.device == "cpu":
                encoder.model.model.float()
            encoder.model.model.to(self.device).eval()
        self._no_grad = torch.no_grad

    def encode(self, texts: Sequence[str], kind: Literal["query", "passage"]) -> tuple[Encoded, Encoded]:
        from FlagEmbedding.utils.tokenizer_compat import pad_with_compat

        if kind not in self.max_length:
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        texts = [self.prefix[kind] + text for text in texts]
        if not texts:
            empty = Encoded(np.zeros((0, self.first.dimension), dtype=np.float32), [])
            return empty, empty
        flags = (self.first.model, self.second.model)
        tokenizer = flags[0].tokenizer
        # FlagModel.encode_single_device's steps: tokenise unpadded, longest first, pad each batch, pool, normalise
        ids = tokenizer(texts, truncation=True, max_length=self.max_length[kind])
        rows = [{key: ids[key][i] for key in ids.keys()} for i in range(len(texts))]
        order = np.argsort([-len(row["input_ids"]) for row in rows])
        parts: tuple[list, list] = ([], [])
        with self._no_grad(), self._joined(), self.first.arithmetic():  # as each model's own encode runs
            for start in range(0, len(texts), self.batch_size):
                batch = [rows[i] for i in order[start : start + self.batch_size]]
                inputs = pad_with_compat(tokenizer, batch, padding=True, return_tensors="pt").to(self.device)
                for flag, out in zip(flags, parts, strict=True):  # the first fills the held output the second reads
                    hidden = flag.model(**inputs, return_dict=True).last_hidden_state
                    pooled = flag._truncate_embeddings(flag.pooling(hidden, inputs["attention_mask"]))
                    if flag.normalize_embeddings:
                        pooled = _normalize(pooled)
                    out.append(flag._convert_to_numpy(pooled, device=self.device))
        back = np.argsort(order)
        return tuple(Encoded(l2_normalise(np.concatenate(out)[back].reshape(len(texts), -1)), []) for out in parts)  # type: ignore[return-value]

    def dense(self, texts: Sequence[str], kind: Literal["query", "passage"]) -> list[np.ndarray]:
        """The two models' dense vectors of `texts`, first's then second's (`encode_together`'s joint encoder)."""
        return [encoded.dense for encoded in self.encode(texts, kind)]

    @contextlib.contextmanager
    def _joined(self):
        """For one joint pass: the first model's last shared layer hands its output over, and the second's shared
        layers are replays of it; afterwards (an error included) each model is whole again and nothing is held."""
        hook = self.first.model.model.encoder.layer[self.layers - 1].register_forward_hook(
            lambda module, args, output: self._held.__setitem__(0, output)
        )
        shared = self.second.model.model.encoder.layer
        own = [shared[i] for i in range(self.layers)]
        for i, replay in enumerate(self._replays):
            shared[i] = replay
        try:
            yield
        finally:
            hook.remove()
            for i, layer in enumerate(own):
                shared[i] = layer
            self._held[0] = None


class PairedHalves:
    """Two models' query encoders with `load_encoder`'s `encode` (`half(0)`: the first's, `half(1)`: the second's),
    loaded when first asked. Asked for texts its partner will be asked for too (`wanted(partner, texts)`, e.g. its
    search is not remembered), a half encodes both in one pass of the pair (`load_pair()`: a `SharedBottomPair`, or
    None where the models share nothing) and keeps the partner's vectors for that ask; otherwise it encodes alone,
    with the pair's model once the pair is loaded, or with `load_alone(index)`: a model whose partner has nothing to
    encode (its searches remembered) is loaded alone, and its partner not at all."""

    def __init__(
        self,
        load_pair: Callable[[], SharedBottomPair | None],
        load_alone: Callable[[int], E5Encoder],
        wanted: Callable[[int, list[str]], bool],
    ):
        self._load_pair, self._load_alone, self.wanted = load_pair, load_alone, wanted
        self._alone: dict[int, E5Encoder] = {}
        self._kept: dict[tuple[int, str, tuple[str, ...]], Encoded] = {}

    @functools.cached_property
    def pair(self) -> SharedBottomPair | None:
        return self._load_pair()

    def half(self, index: int) -> _Half:
        return _Half(self, index)

    def encoder(self, index: int) -> E5Encoder:
        """Model `index` alone: the pair's if it is loaded, else loaded alone (once)."""
        if self.__dict__.get("pair") is not None:
            return (self.pair.first, self.pair.second)[index]  # type: ignore[union-attr]
        if index not in self._alone:
            self._alone[index] = self._load_alone(index)
        return self._alone[index]

    def encode(self, index: int, texts: list[str], kind: Literal["query", "passage"]) -> Encoded:
        kept = self._kept.pop((index, kind, tuple(texts)), None)
        if kept is not None:
            return kept
        partner = 1 - index
        if not self.wanted(partner, texts) or self.pair is None:
            return self.encoder(index).encode(texts, kind=kind)
        both = self.pair.encode(texts, kind)
        self._kept = {(partner, kind, tuple(texts)): both[partner]}  # one ask's worth, no more
        return both[index]


class _Half:
    def __init__(self, halves: PairedHalves, index: int):
        self.halves, self.index = halves, index

    @property
    def encoder(self) -> E5Encoder:
        return self.halves.encoder(self.index)

    def encode(self, texts: Sequence[str], kind: Literal["query", "passage"], lexical: bool = False, **options):
        if lexical or any(options.values()):  # what E5Encoder refuses, refused alike
            return self.encoder.encode(texts, kind=kind, lexical=lexical, **options)
        return self.halves.encode(self.index, list(texts), kind)

    @property
    def dimension(self) -> int:
        return self.encoder.dimension

    @property
    def vocab_size(self) -> int:
        return self.encoder.vocab_size


def _normalize(tensor):
    import torch

    return torch.nn.functional.normalize(tensor, dim=-1)


def joint_encoder(load: Callable[[], SharedBottomPair | None], kind: Literal["query", "passage"]):
    """`ragtune.cache.encodings.encode_together`'s loader: `load()` (`load_pair`, or an engine's) when called, and the
    pair's `dense(batch, kind)`, or None where the models share no bottom (each then encodes alone)."""

    def joint():
        pair = load()
        return None if pair is None else functools.partial(pair.dense, kind=kind)

    return joint


def load_pair(
    first_dir: str | Path,
    second_dir: str | Path,
    *,
    device=None,
    batch_size: int = 64,
    query_max_length: int | None = None,
    passage_max_length: int | None = None,
    quantize: str = "none",
    precision: str = "fp32",
) -> SharedBottomPair | None:
    """Both models loaded as `load_encoder` loads each, paired when they share a bottom; None where pairing does
    not apply (the caller encodes each model on its own). Loads both models: call it when both must encode."""
    lengths = dict(query_max_length=query_max_length, passage_max_length=passage_max_length)
    if not _specs_agree(first_dir, second_dir, device, quantize, lengths):
        return None
    options = dict(device=device, batch_size=batch_size, precision=precision, **lengths)
    first, second = load_encoder(first_dir, **options), load_encoder(second_dir, **options)
    layers = _shared(first_dir, second_dir, first.model.tokenizer, second.model.tokenizer, first.model, second.model)
    return SharedBottomPair(first, second, layers) if layers else None


def bottom_shared(
    first_dir: str | Path,
    second_dir: str | Path,
    *,
    device=None,
    query_max_length: int | None = None,
    passage_max_length: int | None = None,
    quantize: str = "none",
    **_,
) -> int:
    """How many layers `load_pair` would find shared (0: it would give None), from the weights on the CPU: what a
    driver checks before its actors load the pair (ragtune.compute)."""
    from transformers import AutoModel, AutoTokenizer

    lengths = dict(query_max_length=query_max_length, passage_max_length=passage_max_length)
    if not _specs_agree(first_dir, second_dir, device, quantize, lengths):
        return 0
    paths = [resolve_spec(d, **lengths)[1] for d in (first_dir, second_dir)]
    tokenizers = [AutoTokenizer.from_pretrained(path) for path in paths]
    return _shared(first_dir, second_dir, *tokenizers, *(AutoModel.from_pretrained(path) for path in paths))


def _specs_agree(first_dir, second_dir, device, quantize: str, lengths: dict) -> bool:
    """What the two models' specs and the settings say, before any weight is read: E5 both, the same prefixes,
    pooling and lengths, one device, no int8 (quantised apart, their layers would not be the same)."""
    if quantize != "none" or len(encoding_devices(device)) != 1:
        return False
    if not all(Path(d).is_dir() for d in (first_dir, second_dir)):
        return False
    specs = [resolve_spec(d, **lengths) for d in (first_dir, second_dir)]
    described = [
        (spec.family, spec.pooling, spec.query_prefix, spec.passage_prefix, sorted(resolved.items()))
        for spec, _, resolved in specs
    ]
    return described[0][0] == "e5" and described[0] == described[1]


def _shared(first_dir, second_dir, first_tokenizer, second_tokenizer, first_model, second_model) -> int:
    """The layers two loaded models (FlagModels or Hugging Face models) share, said in the log; 0 where their
    tokenizers differ or they share nothing."""
    unwrap = [getattr(model, "model", model) for model in (first_model, second_model)]
    layers = shared_layers(*unwrap) if same_tokenizer(first_tokenizer, second_tokenizer) else 0
    if layers:
        total, names = len(unwrap[0].encoder.layer), [Path(d).name for d in (first_dir, second_dir)]
        logging.getLogger("ragtune").info(  # a stage's log; never a command's output (`ragtune search --json`)
            "encoding: %s share their embeddings and %d of %d layers, run once for both",
            " and ".join(names),
            layers,
            total,
        )
    return layers
