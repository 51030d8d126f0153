"""Where training processes meet (`train.nnodes`, `node_rank`, `master_addr`, `master_port`: torchrun's own
arguments), checked together: the schema checks each key alone, this what they need from one another."""

from __future__ import annotations

import os

OTHER_NODES = "the other nodes run `python stages/train.py`, not `dvc exp run` (docs/training.md, Several machines)"


def launch_problem(nnodes: int, node_rank: int, master_addr: str | None, master_port: int) -> tuple[str, str] | None:
    """(setting, what is wrong) for launch settings that cannot work together, else None."""
    if not 0 <= node_rank < nnodes:
        return "node_rank", f"= {node_rank} is not allowed: must be in [0, nnodes - 1] = [0, {nnodes - 1}]"
    if nnodes > 1 and not master_addr:
        return "master_addr", f"is required with nnodes = {nnodes}: node 0's address, reachable from every node"
    if not 1 <= master_port <= 65535:
        return "master_port", f"= {master_port} is not allowed: must be a port in [1, 65535]"
    return None


def train_launch_problem(train) -> tuple[str, str] | None:
    """(dotted key, what is wrong) for the `train` group's launch keys, else None."""
    problem = launch_problem(train.nnodes, train.node_rank, train.master_addr, train.master_port)
    if problem is not None:
        return f"train.{problem[0]}", problem[1]
    if train.nnodes > 1 and train.targeted_round:  # it mines with the fine-tuned model, which only node 0 holds
        return "train.targeted_round", "runs on node 0 alone: set it false with train.nnodes > 1"
    return None


def refuse_other_nodes_under_dvc(train) -> None:
    """ParamsError for a node other than 0 run by DVC: DVC would wait for outputs only node 0 writes."""
    if train.node_rank > 0 and os.environ.get("DVC_STAGE"):
        from ragtune.config.schema import ParamsError

        raise ParamsError("params.yaml", "train.node_rank", f"= {train.node_rank}: {OTHER_NODES}")
