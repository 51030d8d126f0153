"""ragtune.models.encoders: where a model runs by default."""

import importlib.metadata
import subprocess
import sys

import pytest


def test_a_cpu_build_of_torch_names_the_cpu_without_importing_torch():
    if not importlib.metadata.version("torch").endswith("+cpu"):
        pytest.skip("this environment's torch is not a CPU build")
    code = "import sys; from ragtune.models.encoders import default_device as d; print(d(), 'torch' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["cpu", "False"]


def test_the_default_device_is_the_one_torch_reports():
    import torch

    from ragtune.models.encoders import default_device

    assert default_device() == ("cuda:0" if torch.cuda.is_available() else "cpu")


def test_bf16_precision_encodes_close_to_fp32_under_autocast_and_refuses_what_it_cannot_honour(tiny_e5, tiny_embedder):
    from tiny_support import SENTENCES

    from ragtune.config.schema import ParamsError
    from ragtune.models.encoders import arithmetic_key, load_encoder

    fp32 = load_encoder(tiny_e5, device="cpu").encode(SENTENCES, kind="passage").dense
    bf16 = load_encoder(tiny_e5, device="cpu", precision="bf16").encode(SENTENCES, kind="passage").dense
    assert bf16.dtype == fp32.dtype and bf16.shape == fp32.shape
    assert fp32.tobytes() != bf16.tobytes() and (fp32 * bf16).sum(axis=1).min() > 0.99  # close, not equal
    with pytest.raises(ParamsError, match="for E5 models"):
        load_encoder(tiny_embedder, device="cpu", precision="bf16")
    with pytest.raises(ParamsError, match="field 'index.precision' bf16 and index.quantize=int8 do not combine"):
        load_encoder(tiny_e5, device="cpu", quantize="int8", precision="bf16")
    with pytest.raises(ParamsError, match="index.devices"):  # autocast would not reach the pool's processes
        load_encoder(tiny_e5, device=["cpu", "cpu"], precision="bf16")
    with pytest.raises(ParamsError, match="index.precision"):
        load_encoder(tiny_e5, device="cpu", precision="fp16")
    assert [arithmetic_key("none", "fp32"), arithmetic_key("int8", "fp32"), arithmetic_key("none", "bf16")] == [
        "none",  # the memo keys fp32 vectors had before precision existed
        "int8",
        "bf16",
    ]
