"""Which bytes the CPU kernels give: one forward and backward pass of a model directory (default: the workspace's
models/base), printed as sha256 prefixes of the mean-pooled outputs and of the gradients, with torch's thread count
and the instruction set ATen dispatched to. Run it with and without `ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2,STRICT
ONEDNN_MAX_CPU_ISA=AVX2` (what stages/common.py sets: ragtune.kernels), or on two machines, and compare
(docs/reproducibility.md).

    python benchmarks/cpu_kernels.py [MODEL_DIR]
"""

import hashlib
import sys

import torch
from transformers import AutoModel, AutoTokenizer


def main() -> None:
    model_dir = sys.argv[1] if len(sys.argv) > 1 else "models/base"
    torch.manual_seed(0)
    tokenizer, model = AutoTokenizer.from_pretrained(model_dir), AutoModel.from_pretrained(model_dir)
    texts = ["passage: 블랙홀은 중력이 매우 강한 천체이다."] * 3 + [
        "passage: photosynthesis turns light into sugar"
    ] * 5
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    model.train()  # dropout on, as in training
    pooled = model(**batch).last_hidden_state.mean(1)
    pooled.pow(2).sum().backward()
    gradients = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    def digest(tensor: torch.Tensor) -> str:
        return hashlib.sha256(tensor.detach().numpy().tobytes()).hexdigest()[:8]

    print(
        f"outputs {digest(pooled)}  gradients {digest(gradients)}  threads {torch.get_num_threads()}  "
        f"kernels {torch.backends.cpu.get_cpu_capability()}"
    )


if __name__ == "__main__":
    main()
