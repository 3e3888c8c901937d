r"""Shared pieces of the TGN/PRES benchmarks: the common command-line options and the timed
training epoch of graphcl's TGN (optionally with PRES) through the engine, on the training
events of the TGN split."""

from __future__ import annotations

import argparse
import time

import pyg_tgn_reference as ref
import torch

from graphcl.methods import get_method
from graphcl.train.engine import Engine


def parser(description: str) -> argparse.ArgumentParser:
    r"""``--dataset``, ``--repeats``, ``--threads``, ``--out``; scripts add their own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dataset", default="wikipedia")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default="")
    return p


def setup(args: argparse.Namespace):
    r"""Applies ``--threads`` and returns the dataset (PyG's reader, as the reference)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return ref.load(args.dataset)


def timed_epochs(data, overrides: dict, repeats: int = 1) -> list[dict]:
    r"""Builds graphcl's ``tgn`` method (``pres`` when ``overrides`` has a ``pres`` section)
    with the method defaults plus ``overrides`` and times ``repeats`` training epochs through
    :meth:`graphcl.train.Engine.train_epoch`: wall and process-CPU seconds, events/s."""
    method = get_method("pres" if overrides.get("pres") else "tgn")
    cfg = method.configure({}, (), overrides)
    torch.manual_seed(0)
    setup = method.build(data, cfg, 0)
    eng = Engine(setup.model, setup.optimizer, progress=False, **setup.engine)
    n = setup.task.num_train_examples
    out = []
    for _ in range(repeats):
        c0 = time.process_time()
        eng.train_epoch(setup.task)
        secs = eng.stats["train_seconds"][-1]
        out.append({"seconds": secs, "cpu_seconds": time.process_time() - c0,
                    "events_per_s": n / secs, "events": n})
    return out
