"""The tiny same-architecture models the tests use: their sentences, their shape, their builders.

`ragtune.models.tiny` builds them; tests/conftest.py builds each once per session (`tiny_embedder`,
`tiny_reranker`, `tiny_e5`); a test that changes a model builds its own or copies one.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

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


def retrained_copy(base: Path, out: Path, *, layer: int | None = None, embeddings: bool = False) -> Path:
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
