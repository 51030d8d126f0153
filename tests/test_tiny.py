"""Tiny BGE-M3 / reranker builds: BGE-M3's layout, loadable by FlagEmbedding, byte-identical rebuilds.

SENTENCES and the build helpers are imported by test_dense, test_rerank and test_training.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ragtune.models.tiny import build_tiny_e5, build_tiny_embedder, build_tiny_reranker

SENTENCES = [
    "광합성은 식물이 빛 에너지를 이용하여 이산화탄소와 물로 포도당을 만드는 과정이다.",
    "세포막은 인지질 이중층으로 이루어져 있으며 물질의 출입을 조절한다.",
    "미토콘드리아는 세포 호흡을 통해 에너지를 생산하는 세포 소기관이다.",
    "지구의 대기는 질소와 산소가 대부분을 차지한다.",
    "달은 지구 주위를 약 27일 주기로 공전한다.",
    "물은 1기압에서 섭씨 100도에 끓는다.",
    "뉴턴의 제2법칙은 힘이 질량과 가속도의 곱과 같다는 것이다.",
    "DNA는 이중 나선 구조를 가진 유전 물질이다.",
    "화산 활동은 판의 경계에서 자주 일어난다.",
    "전자는 음전하를 띠는 기본 입자이다.",
    "태양은 수소 핵융합으로 빛과 열을 낸다.",
    "산과 염기가 반응하면 물과 염이 생성된다.",
    "효소는 생체 내 화학 반응의 속도를 높이는 단백질이다.",
    "빛의 속도는 진공에서 초속 약 30만 킬로미터이다.",
    "철은 산소와 물을 만나면 녹이 슨다.",
    "혈액 속 적혈구는 헤모글로빈으로 산소를 운반한다.",
    "지진의 규모는 리히터 척도로 나타낸다.",
    "원자핵은 양성자와 중성자로 구성된다.",
    "식물의 뿌리는 물과 무기 양분을 흡수한다.",
    "온실 기체는 지구의 평균 기온을 높인다.",
    "소리는 공기의 진동이 전달되는 파동이다.",
    "자석의 같은 극끼리는 서로 밀어낸다.",
    "인슐린은 혈당을 낮추는 호르몬이다.",
    "바닷물이 짠 이유는 녹아 있는 염화나트륨 때문이다.",
    "별의 색깔은 표면 온도에 따라 달라진다.",
    "백신은 면역 체계가 병원체를 기억하도록 돕는다.",
    "전류는 전압을 저항으로 나눈 값과 같다.",
    "공룡은 약 6600만 년 전에 멸종하였다.",
    "구름은 수증기가 응결하여 생긴 작은 물방울의 집합이다.",
    "엔트로피는 고립계에서 시간이 지나면 증가한다.",
]
SHAPE = dict(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)


def build_embedder(out_dir: Path, seed: int = 0) -> Path:
    return build_tiny_embedder(SENTENCES, out_dir, vocab_size=300, max_position=130, seed=seed, **SHAPE)


def build_e5(out_dir: Path, seed: int = 0) -> Path:
    return build_tiny_e5(
        SENTENCES,
        out_dir,
        vocab_size=300,
        max_position=128,
        seed=seed,
        query_max_length=16,
        passage_max_length=48,
        **SHAPE,
    )


def build_reranker(tokenizer_dir: Path, out_dir: Path, seed: int = 0) -> Path:
    return build_tiny_reranker(tokenizer_dir, out_dir, max_position=130, seed=seed, **SHAPE)


def digests(directory: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def embedder(tmp_path_factory) -> Path:
    return build_embedder(tmp_path_factory.mktemp("tiny") / "embedder")


def test_embedder_has_bge_m3_layout(embedder):
    names = set(digests(embedder))
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "colbert_linear.pt",
        "sparse_linear.pt",
    } <= names
    assert not any(name.startswith(".") for name in names)


def test_rebuild_is_byte_identical_and_seed_matters(embedder, tmp_path):
    assert digests(build_embedder(tmp_path / "again")) == digests(embedder)
    other = digests(build_embedder(tmp_path / "seed1", seed=1))
    assert other["model.safetensors"] != digests(embedder)["model.safetensors"]
    assert other["tokenizer.json"] == digests(embedder)["tokenizer.json"]  # tokenizer depends on texts only


def test_tokenizer_is_xlm_r_style(embedder):
    from transformers import AutoTokenizer, XLMRobertaTokenizerFast

    tokenizer = AutoTokenizer.from_pretrained(str(embedder))
    assert isinstance(tokenizer, XLMRobertaTokenizerFast)
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    assert tokenizer.convert_tokens_to_ids("<mask>") == len(tokenizer) - 1
    ids = tokenizer("광합성은 식물이")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and 3 not in ids
    pair = tokenizer("질문", "문서")["input_ids"]
    assert pair.count(2) == 3  # <s> A </s></s> B </s>, as XLM-R


def test_flagembedding_loads_embedder_and_heads(embedder):
    import torch
    from FlagEmbedding import BGEM3FlagModel

    model = BGEM3FlagModel(str(embedder), use_fp16=False, devices="cpu")
    out = model.encode(SENTENCES[:2], return_dense=True, return_sparse=True, return_colbert_vecs=True)
    assert out["dense_vecs"].shape == (2, SHAPE["hidden_size"])
    assert out["lexical_weights"][0] and out["colbert_vecs"][0].shape[1] == SHAPE["hidden_size"]
    saved = torch.load(embedder / "sparse_linear.pt", weights_only=True)
    assert torch.equal(model.model.sparse_linear.weight.cpu(), saved["weight"])


def test_reranker_loads_in_flag_reranker(embedder, tmp_path):
    from FlagEmbedding import FlagReranker

    first = build_reranker(embedder, tmp_path / "reranker")
    assert digests(build_reranker(embedder, tmp_path / "again")) == digests(first)
    reranker = FlagReranker(str(first), use_fp16=False, devices="cpu")
    scores = reranker.compute_score([("광합성", SENTENCES[0]), ("광합성", SENTENCES[1])])
    assert len(scores) == 2 and all(isinstance(score, float) for score in scores)


def test_failed_build_leaves_previous_model(embedder, tmp_path):
    target = build_embedder(tmp_path / "kept")
    before = digests(target)
    with pytest.raises(ValueError):
        build_tiny_embedder([], target, vocab_size=300, seed=0, **SHAPE)
    assert digests(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]


def test_attention_value_init_range_scales_value_and_output_projections(tmp_path):
    from transformers import XLMRobertaModel

    wide = build_tiny_embedder(
        SENTENCES, tmp_path / "wide", vocab_size=300, max_position=130, seed=0, attention_value_init_range=0.25, **SHAPE
    )
    again = build_tiny_embedder(
        SENTENCES,
        tmp_path / "again",
        vocab_size=300,
        max_position=130,
        seed=0,
        attention_value_init_range=0.25,
        **SHAPE,
    )
    assert digests(wide) == digests(again)
    model = XLMRobertaModel.from_pretrained(str(wide))
    for layer in model.encoder.layer:
        assert 0.2 < layer.attention.self.value.weight.std().item() < 0.3
        assert 0.2 < layer.attention.output.dense.weight.std().item() < 0.3
        assert layer.attention.self.query.weight.std().item() < 0.05  # the rest keeps initializer_range


def test_reranker_attention_value_init_range(embedder, tmp_path):
    from transformers import XLMRobertaForSequenceClassification

    wide = build_tiny_reranker(
        embedder, tmp_path / "wide", max_position=130, seed=0, attention_value_init_range=0.25, **SHAPE
    )
    assert digests(wide) == digests(
        build_tiny_reranker(
            embedder, tmp_path / "again", max_position=130, seed=0, attention_value_init_range=0.25, **SHAPE
        )
    )
    model = XLMRobertaForSequenceClassification.from_pretrained(str(wide))
    for layer in model.roberta.encoder.layer:
        assert 0.2 < layer.attention.self.value.weight.std().item() < 0.3
        assert layer.attention.self.query.weight.std().item() < 0.05


def test_reranker_starts_from_a_given_encoder(embedder, tmp_path):
    import torch
    from transformers import XLMRobertaForSequenceClassification, XLMRobertaModel

    built = build_tiny_reranker(
        embedder, tmp_path / "from-encoder", max_position=130, seed=0, encoder_dir=embedder, **SHAPE
    )
    assert digests(built) == digests(
        build_tiny_reranker(embedder, tmp_path / "again", max_position=130, seed=0, encoder_dir=embedder, **SHAPE)
    )
    source = XLMRobertaModel.from_pretrained(str(embedder)).state_dict()
    model = XLMRobertaForSequenceClassification.from_pretrained(str(built))
    for key, tensor in model.roberta.state_dict().items():
        assert torch.equal(tensor, source[key]), key


def test_reranker_rejects_an_encoder_of_another_shape(embedder, tmp_path):
    with pytest.raises(ValueError, match="shape"):
        build_tiny_reranker(
            embedder,
            tmp_path / "bad",
            max_position=130,
            seed=0,
            encoder_dir=embedder,
            **{**SHAPE, "intermediate_size": 128},
        )
    assert not (tmp_path / "bad").exists()


def test_fine_tuned_tiny_reranker_loss_drops(tmp_path):
    """The real runner on tiny data: starting from a (widened) tiny encoder, the listwise loss falls below ln(group)."""
    import math

    from ragtune.io import write_jsonl
    from ragtune.training.runner import finetune_reranker
    from ragtune.training.settings import RunnerSettings

    rows = [
        {
            "query": sentence.split()[0] + " " + sentence.split()[1],
            "pos": [sentence],
            "neg": [other for other in SENTENCES if other != sentence][index % 7 :: 7][:3],
        }
        for index, sentence in enumerate(SENTENCES[:16])
    ]
    write_jsonl(tmp_path / "train.jsonl", rows)
    embedder = build_tiny_embedder(
        SENTENCES,
        tmp_path / "embedder",
        vocab_size=300,
        max_position=130,
        seed=0,
        attention_value_init_range=0.25,
        **SHAPE,
    )
    base = build_tiny_reranker(embedder, tmp_path / "base", max_position=130, seed=0, encoder_dir=embedder, **SHAPE)
    settings = RunnerSettings(
        learning_rate=5e-3,
        max_steps=60,
        batch_size=8,
        train_group_size=4,
        query_max_len=16,
        passage_max_len=48,
        warmup_ratio=0.1,
        logging_steps=10,
        seed=0,
    )
    curve = finetune_reranker(base, tmp_path / "train.jsonl", tmp_path / "tuned", settings)
    assert curve[-1]["loss"] < 0.5 * math.log(settings.train_group_size)
