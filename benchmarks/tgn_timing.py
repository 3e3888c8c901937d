r"""Shared pieces of the TGN/PRES benchmarks: the common command-line options and the timed
training epoch of graphcl's TGN (optionally with PRES) on the training events of the TGN split."""

from __future__ import annotations

import argparse
import time

import pyg_tgn_reference as ref
import torch

from graphcl.data.temporal import chronological_split
from graphcl.train.temporal import (
    EventStream,
    build_model,
    build_scheme,
    destination_sampler,
    train_epoch,
)


def parser(description: str) -> argparse.ArgumentParser:
    r"""``--dataset``, ``--repeats``, ``--threads``, ``--out``; scripts add their own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dataset", default="wikipedia")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default="")
    return p


def setup(args: argparse.Namespace):
    r"""Applies ``--threads`` and returns ``(data, training EventStream)``."""
    if args.threads:
        torch.set_num_threads(args.threads)
    data = ref.load(args.dataset)
    return data, EventStream(data, chronological_split(data).train_mask)


def timed_epochs(data, train: EventStream, cfg: dict, repeats: int = 1) -> list[dict]:
    r"""Builds graphcl's model (and PRES when ``cfg["pres"]``) once and times ``repeats``
    training epochs: wall and process-CPU seconds, events/s."""
    model = build_model(cfg, data.num_nodes, data.msg.size(1), 1.0)
    scheme = build_scheme(cfg, data.num_nodes, model.memory.memory_dim)
    params = list(model.parameters()) + (list(scheme.parameters()) if scheme else [])
    opt = torch.optim.Adam([p for p in params if p.requires_grad], lr=cfg["lr"], fused=True)
    neg = destination_sampler(train, seed=0)
    out = []
    for _ in range(repeats):
        c0 = time.process_time()
        stats = train_epoch(model, train, opt, neg, cfg["batch_size"], scheme)
        out.append({"seconds": stats["seconds"], "cpu_seconds": time.process_time() - c0,
                    "events_per_s": stats["events_per_s"], "events": train.num_events})
    return out
