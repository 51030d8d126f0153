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
