r"""Metanetwork forward + backward: graphcl's ``MetaNetwork`` against the released
``MyGNN`` (Yewei-Liu/MetaPruning, ``nn/GNN.py``: a PyG ``MessagePassing`` with the
``["mean", "std", "max", "min"]`` multi-aggregation), same sizes, same graphs, one process.

    python benchmarks/bench_metaprune.py --original /path/to/MetaPruning --out benchmarks/results/bench_metaprune.json

Graphs: the MNIST ConvNet of ``models/metaprune.yaml`` (16/32/64 channels), a ResNet-56-sized
graph (as the released encoding builds it: every convolution a complete bipartite block of 3×3
kernels, 16/32/64-channel stages of nine blocks each, identity shortcuts as complete blocks;
once more with graphcl's encoding, one edge per channel for an identity shortcut, on graphcl's
side only: what each code runs on that network) and a Cora GCN (1,433 → 256 → 7; hidden 16,
4 layers).
Arms alternate, median of ``--repeats`` after a warm-up; the released module is imported
from the given checkout and nothing of it is copied here.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _released(path: Path):
    spec = importlib.util.spec_from_file_location("metapruning_gnn", path / "nn" / "GNN.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # PyG's inspector reads the module's globals
    spec.loader.exec_module(mod)
    return mod.MyGNN


def _resnet56_graph(complete: bool = True) -> tuple[int, torch.Tensor]:
    r"""Edge index of a ResNet-56 graph: the released encoding (``complete``: identity
    shortcuts as complete bipartite blocks) or graphcl's (one edge per channel)."""
    blocks, n, src, dst = [], 3, [], []
    prev = torch.arange(3)

    def block(ins: torch.Tensor, c: int) -> torch.Tensor:
        nonlocal n
        outs = torch.arange(n, n + c)
        n += c
        src.append(ins.repeat(c))
        dst.append(outs.repeat_interleave(ins.numel()))
        return outs

    prev = block(prev, 16)
    for c in (16, 32, 64):
        for _ in range(9):
            h = block(prev, c)
            out = block(h, c)
            if complete or prev.numel() != c:  # a projection is complete in both encodings
                src.append(prev.repeat(c))
                dst.append(out.repeat_interleave(prev.numel()))
            else:
                src.append(prev)
                dst.append(out)
            prev = out
    blocks.append(block(prev, 10))
    return n, torch.stack([torch.cat(src), torch.cat(dst)])


def _graphs() -> dict[str, tuple[int, torch.Tensor, torch.Tensor | None, int, int]]:
    r"""name -> (nodes, edge index, graphcl's own edge index or None, hidden, layers)."""
    from graphcl.models.convnet import ConvNet
    from graphcl.models.gnn import GNNClassifier
    from graphcl.nn.netgraph import network_to_graph

    conv = network_to_graph(ConvNet((16, 32, 64)), (1, 28, 28))
    gcn = network_to_graph(GNNClassifier(1433, 256, 7, 2, "gcn"), (1433,), {"batch": None})
    n56, e56 = _resnet56_graph()
    _, ours56 = _resnet56_graph(complete=False)
    return {"mnist-convnet": (conv.num_nodes, conv.edge_index, None, 64, 8),
            "resnet56-sized": (n56, e56, None, 64, 8),
            "resnet56-sized, graphcl's encoding for graphcl": (n56, e56, ours56, 64, 8),
            "cora-gcn": (gcn.num_nodes, gcn.edge_index, None, 16, 4)}


def _seconds(step) -> float:
    t = time.perf_counter()
    step()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--original", type=Path, required=True, help="MetaPruning checkout")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from graphcl.models.metanet import MetaNetwork

    MyGNN = _released(args.original)
    results = {}
    for name, (n, edge_index, own, hidden, layers) in _graphs().items():
        torch.manual_seed(0)
        e = edge_index.size(1)
        own = edge_index if own is None else own
        x, attr, own_attr = torch.randn(n, 9), torch.randn(e, 9), torch.randn(own.size(1), 9)
        etype = torch.zeros(own.size(1), dtype=torch.long)
        ours = MetaNetwork(9, 9, hidden, layers, 0.01)
        theirs = MyGNN(layers, hidden, 9, 9, 0.01, 0.01)

        def step_ours(net=ours, x=x, ei=own, attr=own_attr, etype=etype):
            xo, eo = net(x, ei, attr, etype)
            (xo.sum() + eo.sum()).backward()

        def step_theirs(net=theirs, x=x, ei=edge_index, attr=attr):
            xo, eo = net(x, ei, attr)
            (xo.sum() + eo.sum()).backward()

        step_ours(), step_theirs()  # warm-up, once per arm
        t_ours, t_theirs = [], []
        for _ in range(args.repeats):  # alternate the arms
            t_ours.append(_seconds(step_ours))
            t_theirs.append(_seconds(step_theirs))
        a, b = statistics.median(t_ours), statistics.median(t_theirs)
        results[name] = {"nodes": n, "edges": e, "edges_graphcl": own.size(1), "hidden": hidden,
                         "layers": layers,
                         "graphcl_s": a, "released_s": b, "speedup": b / a}
        print(f"{name}: {n} nodes, {e} edges ({own.size(1)} for graphcl), hidden {hidden} x "
              f"{layers}: graphcl "
              f"{a * 1000:.1f} ms, released {b * 1000:.1f} ms, {b / a:.2f}x", flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "threads": args.threads,
                                        "torch": torch.__version__, "results": results},
                                       indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
