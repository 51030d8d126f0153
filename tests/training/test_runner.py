"""FlagEmbedding fine-tuning adapters: runner arguments, outputs, CPU determinism; the train stage end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_support import SENTENCES, SHAPE, build_reranker, digests

from ragtune.io import read_jsonl, write_json, write_jsonl
from ragtune.models.encoders import load_encoder, read_spec
from ragtune.training.partial_finetune import frozen_parameter_names
from ragtune.training.runner import (
    LossCurve,
    finetune_embedder,
    finetune_m3,
    finetune_m3_rows,
    finetune_reranker,
    resolve_precision,
)
from ragtune.training.settings import RunnerSettings, settings_from_mapping


def test_settings():
    assert resolve_precision("auto") in ("fp32", "bf16", "fp16")
    assert resolve_precision("fp16") == "fp16"
    with pytest.raises(ValueError):
        RunnerSettings(precision="int8")
    with pytest.raises(ValueError, match="unknown"):
        settings_from_mapping({"learning_rate": 1e-4, "lr": 1})
    assert settings_from_mapping({"learning_rate": 1e-4}).learning_rate == 1e-4


def test_launch_settings_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"^node_rank: = 2 is not allowed: must be in \[0, nnodes - 1\] = \[0, 1\]"):
        RunnerSettings(nnodes=2, node_rank=2, master_addr="10.0.0.1")
    with pytest.raises(ValueError, match=r"^master_addr: is required with nnodes = 2"):
        RunnerSettings(nnodes=2, node_rank=1)
    assert RunnerSettings(nnodes=2, num_gpus=4, master_addr="10.0.0.1").world_size == 8


def test_several_nodes_launch_torchrun_with_the_node_and_its_meeting_point():
    import sys

    from ragtune.training.runner import _launcher

    node = RunnerSettings(nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=29400)
    assert _launcher("m", node) == [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", "1", "--nproc_per_node", "1",
        "--master_addr", "10.0.0.1", "--master_port", "29400", "-m", "m",
    ]  # fmt: skip
    one_node = _launcher("m", RunnerSettings(num_gpus=4))
    assert "--nnodes" not in one_node and one_node[one_node.index("--nproc_per_node") + 1] == "4"
    assert "torch.distributed.run" not in _launcher("m", RunnerSettings())


def test_loss_curve_counts_optimiser_steps_not_logged_points():
    curve = LossCurve([{"step": 1, "loss": 2.0}, {"step": 10, "loss": 1.5}], steps=12, seconds=30.0, cpu_seconds=20.0)
    assert curve.summary() == {"steps": 12, "first_loss": 2.0, "final_loss": 1.5}  # no timing: it is tracked
    assert curve.timing() == {"steps": 12, "seconds": 30.0, "cpu_seconds": 20.0, "seconds_per_step": 2.5}
    assert curve.describe() == "12 optimiser steps in 30 s (20 CPU s, 2.5 s/step), loss 2.000 → 1.500"
    assert LossCurve().summary() == {"steps": 0, "first_loss": None, "final_loss": None}
    assert curve == [{"step": 1, "loss": 2.0}, {"step": 10, "loss": 1.5}]  # a list of its points


def test_loss_curve_is_drawn_byte_for_byte_the_same_even_without_points(tmp_path):
    curve = LossCurve([{"step": 1, "loss": 2.0}, {"step": 10, "loss": 1.5}], steps=12)
    curve.draw(tmp_path / "a" / "loss.png")
    curve.draw(tmp_path / "b" / "loss.png")
    assert (tmp_path / "a/loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "a/loss.png").read_bytes() == (tmp_path / "b/loss.png").read_bytes()
    LossCurve(steps=3).draw(tmp_path / "empty.png")  # fewer steps than logging_steps: the stage's out still exists
    assert (tmp_path / "empty.png").read_bytes() != (tmp_path / "a/loss.png").read_bytes()


RUNNER_LIKE = """\
import logging, sys, warnings
logging.basicConfig(level=logging.INFO)  # as FlagEmbedding's runners do
logging.getLogger("FlagEmbedding.abc.finetune.embedder.AbsRunner").info("Training/evaluation parameters ...")
logging.getLogger("FlagEmbedding.abc.finetune.embedder.AbsRunner").warning("Process rank: -1")
logging.getLogger("ragtune.training").info("ragtune line")
print("argv", sys.argv[1:], flush=True)
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_runner_processes_follow_the_console_policy(tmp_path, monkeypatch, verbose):
    import os
    import subprocess
    import sys

    from ragtune.training.runner import _launcher

    (tmp_path / "runner_like.py").write_text(RUNNER_LIKE)
    if verbose:
        monkeypatch.setenv("RAGTUNE_VERBOSE", "1")
    else:
        monkeypatch.delenv("RAGTUNE_VERBOSE", raising=False)
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), root])}
    command = [*_launcher("runner_like", RunnerSettings()), "--model_name_or_path", "m"]
    assert command[:2] == [sys.executable, "-m" if verbose else "-c"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert "argv ['--model_name_or_path', 'm']" in done.stdout  # the module sees its arguments as with -m
    assert "Process rank: -1" in done.stderr and "ragtune line" in done.stderr
    assert ("Training/evaluation parameters" in done.stderr) == verbose


@pytest.fixture(scope="module")
def tiny(tiny_embedder, tmp_path_factory):
    import shutil

    root = tmp_path_factory.mktemp("training")
    embedder = Path(shutil.copytree(tiny_embedder, root / "embedder"))  # beside the outputs: leftovers show
    rows = []
    for number, sentence in enumerate(SENTENCES):
        words = sentence.split()
        others = [s for s in SENTENCES if s != sentence]
        for k in range(2):  # two questions per document, as the synthetic generator makes
            rows.append(
                {
                    "query": " ".join(words[k : k + 3]),
                    "pos": [sentence],
                    "neg": [others[(number + k) % len(others)], others[(number + 7) % len(others)]],
                }
            )
    write_jsonl(root / "train.jsonl", rows)
    return root, embedder


SMALL = RunnerSettings(
    learning_rate=1e-3,
    temperature=0.05,
    max_steps=3,
    batch_size=4,
    train_group_size=2,
    query_max_len=16,
    passage_max_len=48,
    seed=0,
    precision="fp32",
)


@pytest.mark.slow  # two fine-tuning runner processes
def test_finetune_m3_writes_model_curve_and_is_deterministic_on_cpu(tiny):
    root, embedder = tiny
    curve = finetune_m3(embedder, root / "train.jsonl", root / "tuned", SMALL)
    assert [row["step"] for row in curve] == [1, 2, 3] and all(row["loss"] > 0 for row in curve)
    files = digests(root / "tuned")
    assert {"config.json", "model.safetensors", "colbert_linear.pt", "sparse_linear.pt", "tokenizer.json"} <= set(files)
    assert not any("checkpoint" in name or name == "training_args.bin" for name in files)
    assert files["model.safetensors"] != digests(embedder)["model.safetensors"]
    assert sorted(path.name for path in root.iterdir()) == ["embedder", "train.jsonl", "tuned"]  # no leftovers

    again = finetune_m3(embedder, root / "train.jsonl", root / "again", SMALL)
    assert again == curve and digests(root / "again") == files

    from FlagEmbedding import BGEM3FlagModel

    assert BGEM3FlagModel(str(root / "tuned"), use_fp16=False, devices="cpu").encode(["물"])["dense_vecs"].shape[0] == 1


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow  # two torchrun launches of the runner (two gloo processes)
def test_two_nodes_train_one_model_on_cpu(tiny, tmp_path):
    """nnodes=2 as two machines would run it: a torchrun per node (node_rank 0 and 1) meeting at 127.0.0.1 on a free
    port, one CPU process each (gloo). Both finish; node 0 alone writes the model and the loss curve."""
    from concurrent.futures import ThreadPoolExecutor

    root, embedder = tiny
    port = free_port()
    launch = {"max_steps": 2, "nnodes": 2, "master_addr": "127.0.0.1", "master_port": port}
    nodes = [RunnerSettings(**{**SMALL.__dict__, **launch, "node_rank": rank}) for rank in (0, 1)]
    with ThreadPoolExecutor(2) as pool:  # a node that waited alone for the other would fail its rendezvous
        runs = [
            pool.submit(finetune_m3, embedder, root / "train.jsonl", tmp_path / f"node{n.node_rank}", n) for n in nodes
        ]
        curves = [run.result(timeout=900) for run in runs]
    assert [row["step"] for row in curves[0]] == [1, 2] and curves[0].steps == 2
    assert curves[1] == [] and curves[1].steps == 0  # node 1 lent its process
    assert sorted(path.name for path in tmp_path.iterdir()) == ["node0"]  # no leftovers, nothing on node 1
    assert digests(tmp_path / "node0")["model.safetensors"] != digests(embedder)["model.safetensors"]

    from FlagEmbedding import BGEM3FlagModel

    model = BGEM3FlagModel(str(tmp_path / "node0"), use_fp16=False, devices="cpu")
    assert model.encode(["물"])["dense_vecs"].shape[0] == 1


def test_other_nodes_refuse_to_run_the_stage_under_dvc(tmp_path):
    """Node K > 0 runs `python stages/train.py`; under DVC (DVC_STAGE set) the stage stops in one line first."""
    import os
    import shutil
    import subprocess
    import sys

    import yaml

    source = Path(__file__).resolve().parents[2]
    shutil.copytree(source / "stages", tmp_path / "stages")
    params = yaml.safe_load((source / "params.yaml").read_text(encoding="utf-8"))
    params["train"].update(nnodes=2, node_rank=1, master_addr="10.0.0.1")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "DVC_STAGE": "train", "PYTHONPATH": str(source)}
    done = subprocess.run(
        [sys.executable, "stages/train.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "field 'train.node_rank' = 1: the other nodes run `python stages/train.py`" in done.stderr


@pytest.mark.slow  # a fine-tuning runner process
def test_finetune_reranker(tiny):
    root, embedder = tiny
    reranker = build_reranker(embedder, root / "reranker")
    curve = finetune_reranker(
        reranker, root / "train.jsonl", root / "reranker-tuned", RunnerSettings(**{**SMALL.__dict__, "max_steps": 2})
    )
    assert [row["step"] for row in curve] == [1, 2]
    assert digests(root / "reranker-tuned")["model.safetensors"] != digests(reranker)["model.safetensors"]


@pytest.mark.slow  # a runner process (torch and FlagEmbedding imported before it fails)
def test_runner_failure_is_reported(tiny, tmp_path):
    root, _ = tiny
    with pytest.raises(RuntimeError, match="fine-tuning failed"):
        finetune_m3(
            tmp_path / "no-such-model",
            root / "train.jsonl",
            tmp_path / "out",
            RunnerSettings(max_steps=1, batch_size=4, seed=0),
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # a fine-tuning runner process
def test_dense_only_training_keeps_the_base_heads(tiny, tmp_path):
    root, embedder = tiny
    finetune_m3(
        embedder,
        root / "train.jsonl",
        tmp_path / "dense",
        RunnerSettings(**{**SMALL.__dict__, "max_steps": 2, "unified_finetuning": False, "use_self_distill": False}),
    )
    tuned, base = digests(tmp_path / "dense"), digests(embedder)
    assert (
        tuned["colbert_linear.pt"] == base["colbert_linear.pt"]
        and tuned["sparse_linear.pt"] == base["sparse_linear.pt"]
    )
    assert tuned["model.safetensors"] != base["model.safetensors"]


@pytest.mark.slow  # two runner processes
def test_knowledge_distillation_uses_teacher_scores(tiny, tmp_path):
    root, embedder = tiny
    rows = [
        {**row, "pos_scores": [1.0], "neg_scores": [0.5 - 0.1 * n for n in range(len(row["neg"]))]}
        for row in read_jsonl(root / "train.jsonl")
    ]
    settings = RunnerSettings(**{**SMALL.__dict__, "max_steps": 2, "knowledge_distillation": True})
    curve = finetune_m3_rows(embedder, rows, tmp_path / "distilled", settings)
    assert [row["step"] for row in curve] == [1, 2]
    plain = finetune_m3_rows(embedder, rows, tmp_path / "plain", RunnerSettings(**{**SMALL.__dict__, "max_steps": 2}))
    assert curve != plain  # the teacher's targets change the loss


def stage_repository(root: Path, overrides: dict) -> Path:
    """A minimal repository to run stage scripts in: stages/, params.yaml (the repo's with `overrides`),
    the prepared corpus (tiny_support's sentences) and one synthetic question per document."""
    import shutil

    import yaml

    from ragtune.text.analysis import KoreanAnalyzer

    source = Path(__file__).resolve().parents[2]
    shutil.copytree(source / "stages", root / "stages")
    params = yaml.safe_load((source / "params.yaml").read_text(encoding="utf-8"))
    for key, value in overrides.items():
        params[key] = {**params.get(key, {}), **value} if isinstance(value, dict) else value
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    documents = [{"docid": f"d{n:02d}", "src": "test", "content": text} for n, text in enumerate(SENTENCES)]
    analyzer = KoreanAnalyzer.from_config(params["sparse"]["analyzer"])
    write_jsonl(root / "data/prepared/documents.jsonl", documents)
    write_json(root / "data/prepared/collection.json", {"language": "ko", "setting": "ko", "detected": "ko"})
    write_jsonl(
        root / "data/prepared/morphemes.jsonl",
        [{"docid": d["docid"], "morphemes": m} for d, m in zip(documents, analyzer.morphemes(SENTENCES))],
    )
    write_jsonl(
        root / "data/queries/train.jsonl",
        [{"query": " ".join(d["content"].split()[:3]), "docid": d["docid"]} for d in documents],
    )
    write_jsonl(
        root / "data/queries/validation.jsonl",
        [
            {
                "qid": f"v{n}",
                "msg": [{"role": "user", "content": " ".join(d["content"].split()[1:4])}],
                "relevant": [d["docid"]],
                "source": "conversational" if n % 2 else "dev",
            }
            for n, d in enumerate(documents)
        ],
    )
    return root


TINY_STAGE = {
    "model": {
        "name": "tiny",
        "embedder": None,
        "query_max_len": 16,
        "passage_max_len": 48,
        "architecture": dict(vocab_size=300, max_position=130, **SHAPE),
    },
    "train": {
        **{
            k: v.record() if k == "lora" else v  # params.yaml holds plain values: the adapters' block as a mapping
            for k, v in SMALL.__dict__.items()
            if k not in ("seed", "query_max_len", "passage_max_len")
        },
        "max_steps": 2,
        "batch_size": 4,
        "logging_steps": 1,
        "targeted_round": False,
        "targeted_top_k": 3,
        "targeted_pool": 8,
        "targeted_max_steps": 2,
        "select": "auto",
        "select_on": "conversational",
        "select_corpus": 0,
    },
    "negatives": {
        "pool": 10,
        "k": 2,
        "skip_top": 0,
        "margin": 0.05,
        "near_duplicate": 0.8,
        "dense_pool": 0,
        "teacher_scores": False,
    },
    "reranker": {
        "name": "tiny",
        "path": "models/reranker",
        "batch_size": 8,
        "max_length": 64,
        "finetune": True,
        "architecture": dict(max_position=130, **SHAPE),
        "train": {
            "learning_rate": 1e-3,
            "max_steps": 2,
            "batch_size": 4,
            "train_group_size": 3,
            "logging_steps": 1,
            "precision": "fp32",
        },
    },
}


def run_stage(repo: Path, name: str, env: dict | None = None) -> str:
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, f"stages/{name}.py"],
        cwd=repo,
        capture_output=True,
        text=True,
        # this checkout's ragtune, not whichever checkout the editable install points at
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **(env or {})},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow  # runs the negatives and train stages: three small fine-tunings
def test_stages_with_every_switch_on(tmp_path):
    switches = {
        **TINY_STAGE,
        "negatives": {**TINY_STAGE["negatives"], "dense_pool": 5, "teacher_scores": True},
        "train": {**TINY_STAGE["train"], "targeted_round": True, "knowledge_distillation": True},
    }
    repo = stage_repository(tmp_path / "repo", switches)
    run_stage(repo, "base")
    run_stage(repo, "negatives")
    rows = read_jsonl(repo / "data/negatives/train.jsonl")
    assert len(rows) == len(SENTENCES) and all(len(r["neg_scores"]) == len(r["neg"]) == 2 for r in rows)
    out = run_stage(repo, "train")
    assert "CPU s" in out and "targeted round" in out
    assert (repo / "models/embedder/model.safetensors").exists()
    assert (repo / "models/reranker_base/model.safetensors").exists()
    assert (
        digests(repo / "models/reranker")["model.safetensors"]
        != digests(repo / "models/reranker_base")["model.safetensors"]
    )
    summary = json.loads((repo / "metrics/train.json").read_text())
    assert summary["targeted"]["missed"] >= 0 and "reranker_final_loss" in summary
    assert not any("seconds" in key for key in summary)  # timings go to the untracked logs/
    assert json.loads((repo / "logs/train_timing.json").read_text())["cpu_seconds"] >= 0
    assert (repo / "plots/train/loss.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # runs the negatives and train stages: two small LoRA fine-tunings
def test_train_stage_with_lora_records_it_and_saves_plain_models(tmp_path):
    lora = {"rank": 8, "alpha": 16.0, "dropout": 0.05, "targets": ["query", "key", "value", "dense"]}
    repo = stage_repository(
        tmp_path / "repo",
        {
            **TINY_STAGE,
            "train": {**TINY_STAGE["train"], "lora": lora},  # `dvc exp run -S train.lora.rank=8`
            "reranker": {**TINY_STAGE["reranker"], "train": {**TINY_STAGE["reranker"]["train"], "lora": lora}},
        },
    )
    run_stage(repo, "base")
    run_stage(repo, "negatives")
    run_stage(repo, "train")
    summary = json.loads((repo / "metrics/train.json").read_text())
    for record in (summary["lora"], summary["reranker_lora"]):
        assert record["rank"] == 8 and record["layers"] == "all"
        assert 0 < record["trainable_parameters"] < record["total_parameters"]
    for model in ("embedder", "reranker"):  # merged: ordinary model directories
        assert (repo / "models" / model / "model.safetensors").exists()
        assert not any("adapter" in path.name for path in (repo / "models" / model).iterdir())
    if summary["selection"]["chosen"] == "finetuned":
        assert digests(repo / "models/embedder") != digests(repo / "models/base")


@pytest.mark.slow  # runs the train stage
def test_train_stage_reranker_pointers(tmp_path):
    # a hub reranker that is not fine-tuned is pointed to, not copied. train checks the hub id before any
    # work, so it is put in a Hugging Face cache of the test's own (the hub is out of reach here)
    cache = tmp_path / "hf-cache"
    snapshot = cache / "models--BAAI--bge-reranker-v2-m3"
    (snapshot / "refs").mkdir(parents=True)
    (snapshot / "refs" / "main").write_text("0" * 40)
    (snapshot / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (snapshot / "snapshots" / ("0" * 40) / "config.json").write_text("{}")
    repo = stage_repository(
        tmp_path / "repo",
        {
            **TINY_STAGE,
            "reranker": {
                "name": "bge-v2-m3",
                "path": "BAAI/bge-reranker-v2-m3",
                "batch_size": 8,
                "max_length": 64,
                "finetune": False,
                "architecture": None,
                "train": None,
            },
        },
    )
    write_jsonl(
        repo / "data/negatives/train.jsonl",
        [{"query": f"q{n}", "pos": [s], "neg": [SENTENCES[(n + 1) % len(SENTENCES)]]} for n, s in enumerate(SENTENCES)],
    )
    run_stage(repo, "base")
    run_stage(repo, "train", env={"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"})
    for name in ("reranker_base", "reranker"):
        assert json.loads((repo / "models" / name / "pointer.json").read_text()) == {
            "name_or_path": "BAAI/bge-reranker-v2-m3"
        }


@pytest.mark.slow  # a fine-tuning runner process
def test_finetune_e5_uses_the_encoder_only_runner_and_its_loss_falls(tiny, tiny_e5, tmp_path):
    import stat

    root, _ = tiny
    base = tiny_e5
    settings = RunnerSettings(
        learning_rate=2e-3,
        temperature=0.05,
        max_steps=12,
        batch_size=8,
        train_group_size=2,
        query_max_len=16,
        passage_max_len=48,
        seed=0,
        precision="fp32",
        logging_steps=4,
    )
    curve = finetune_embedder(base, root / "train.jsonl", tmp_path / "tuned", settings)
    assert curve.steps == 12 and [row["step"] for row in curve] == [1, 4, 8, 12]  # the first step is logged too
    assert curve.seconds > 0 and curve.cpu_seconds > 0
    assert curve[-1]["loss"] < curve[0]["loss"]
    tuned = tmp_path / "tuned"
    assert read_spec(tuned) == read_spec(base) and read_spec(tuned).family == "e5"
    assert digests(tuned)["model.safetensors"] != digests(base)["model.safetensors"]
    mode = stat.S_IMODE((tuned / "model.safetensors").stat().st_mode)
    assert mode & stat.S_IRGRP and stat.S_IMODE(tuned.stat().st_mode) & stat.S_IXGRP  # not 0600 / 0700
    assert type(load_encoder(tuned, device="cpu")).__name__ == "E5Encoder"


def test_frozen_parameter_names_follow_the_switches():
    names = [
        "model.embeddings.word_embeddings.weight",
        "model.embeddings.position_embeddings.weight",
        "model.encoder.layer.0.attention.self.query.weight",
        "model.encoder.layer.1.output.dense.weight",
    ]
    assert frozen_parameter_names(names, True, 0) == {names[0]}
    assert frozen_parameter_names(names, False, 1) == set(names[:3])
    assert frozen_parameter_names(names, False, 0) == set()


def test_frozen_layers_stay_in_inference_mode_under_the_trainers_train_calls():
    import torch
    from transformers import BertConfig, BertModel

    from ragtune.training.partial_finetune import freeze

    config = BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
        hidden_dropout_prob=0.5, attention_probs_dropout_prob=0.5,
    )  # fmt: skip
    torch.manual_seed(0)
    model = BertModel(config)
    freeze(model, freeze_word_embeddings=True, train_top_layers=1)
    model.train()  # what the Trainer calls at every step
    assert not model.embeddings.training and not model.encoder.layer[0].training and not model.encoder.layer[1].training
    assert not model.encoder.layer[1].attention.self.dropout.training  # and everything inside them
    assert model.encoder.layer[2].training and model.encoder.layer[2].output.dropout.training and model.training
    # The frozen part computes what it computes at inference: no dropout below the trained layer.
    inputs = torch.randint(0, 50, (2, 7))
    below = model.encoder.layer[1]
    hidden = model.embeddings(inputs)
    assert torch.equal(below(model.encoder.layer[0](hidden)[0])[0], below(model.encoder.layer[0](hidden)[0])[0])
    model.eval()
    model.train(True)
    assert not below.training and model.encoder.layer[2].training


@pytest.mark.slow  # a fine-tuning runner process
def test_partial_finetuning_freezes_what_it_says(tiny, tiny_e5, tmp_path):
    root, _ = tiny
    base = tiny_e5
    settings = RunnerSettings(
        learning_rate=2e-3,
        max_steps=2,
        batch_size=8,
        train_group_size=2,
        query_max_len=16,
        passage_max_len=48,
        seed=0,
        precision="fp32",
        train_top_layers=1,
    )
    finetune_embedder(base, root / "train.jsonl", tmp_path / "top", settings)
    from safetensors.numpy import load_file

    before, after = load_file(base / "model.safetensors"), load_file(tmp_path / "top" / "model.safetensors")
    changed = {key for key in before if not (before[key] == after[key]).all()}
    assert changed and all(key.startswith("encoder.layer.1.") for key in changed)


@pytest.mark.slow  # base, negatives and train stages with a tiny E5
def test_stages_with_a_tiny_e5_select_the_better_model(tmp_path):
    e5 = {
        **TINY_STAGE,
        "model": {
            **TINY_STAGE["model"],
            "architecture": {**TINY_STAGE["model"]["architecture"], "max_position": 128, "family": "e5"},
        },
        "train": {**TINY_STAGE["train"], "select": "auto"},
        "negatives": {**TINY_STAGE["negatives"], "dense_pool": 5},
        "reranker": {
            "name": "none",
            "path": None,
            "batch_size": 8,
            "max_length": 64,
            "finetune": False,
            "architecture": None,
            "train": None,
        },
    }
    repo = stage_repository(tmp_path / "repo", e5)
    run_stage(repo, "base")
    assert read_spec(repo / "models/base").family == "e5"
    run_stage(repo, "negatives")
    out = run_stage(repo, "train")
    summary = json.loads((repo / "metrics/train.json").read_text())
    chosen = summary["selection"]
    assert summary["steps"] == 2 and chosen["source"] == "conversational" and chosen["questions"] == 15
    better = "finetuned" if chosen["finetuned_map@3"] > chosen["base_map@3"] else "base"
    assert chosen["chosen"] == better and "models/embedder is the" in out
    if better == "base":
        assert digests(repo / "models/embedder") == digests(repo / "models/base")
