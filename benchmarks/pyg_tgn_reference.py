r"""Reference: the logic of PyG's ``examples/tgn.py`` (PyG 2.8.1), reconstructed with PyG's own
blocks (TGNMemory, IdentityMessage, LastAggregator, LastNeighborLoader, TransformerConv), run on
the same data and the same chronological split as graphcl's TGN.

Differences from the example, all needed to compare on equal terms: the events come from our
split (train events exclude the held-out new nodes, as in the TGN protocol; validation/test are
all events of their period), AP/AUC are averaged per batch with the same function graphcl uses.
The example's negatives are kept (uniform ids in ``[min_dst, max_dst]``, ``torch.manual_seed
(12345)`` at each evaluation). Memory/time/embedding dims 100, lr 1e-4, batch 200 by default.

Usage::

    python benchmarks/pyg_tgn_reference.py --dataset wikipedia --epochs 2 --batch-size 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch.nn import Linear
from torch_geometric.loader import TemporalDataLoader
from torch_geometric.nn import TransformerConv
from torch_geometric.nn.models.tgn import (
    IdentityMessage,
    LastAggregator,
    LastNeighborLoader,
    TGNMemory,
)

from graphcl.data import readers
from graphcl.data.temporal import chronological_split
from graphcl.evaluate.metrics import per_batch_ap_auc
from graphcl.train.checkpoint import write_json_atomic

REPO = Path(__file__).resolve().parents[1]
FILES = {"wikipedia": "jodie-wikipedia-nofeat/wikipedia_uitl.csv",
         "uci": "collegemsg/CollegeMsg.txt"}


def load(name: str):
    root = Path(os.environ.get("GRAPHCL_DATA", REPO.parent / "shared" / "data"))
    path = root / FILES[name]
    return readers.read_jodie(path) if name == "wikipedia" else readers.read_snap_temporal(path)


class GraphAttentionEmbedding(torch.nn.Module):
    def __init__(self, in_channels, out_channels, msg_dim, time_enc):
        super().__init__()
        self.time_enc = time_enc
        edge_dim = msg_dim + time_enc.out_channels
        self.conv = TransformerConv(in_channels, out_channels // 2, heads=2, dropout=0.1,
                                    edge_dim=edge_dim)

    def forward(self, x, last_update, edge_index, t, msg):
        rel_t = last_update[edge_index[0]] - t
        rel_t_enc = self.time_enc(rel_t.to(x.dtype))
        edge_attr = torch.cat([rel_t_enc, msg], dim=-1)
        return self.conv(x, edge_index, edge_attr)


class LinkPredictor(torch.nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.lin_src = Linear(in_channels, in_channels)
        self.lin_dst = Linear(in_channels, in_channels)
        self.lin_final = Linear(in_channels, 1)

    def forward(self, z_src, z_dst):
        return self.lin_final((self.lin_src(z_src) + self.lin_dst(z_dst)).relu())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="wikipedia")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--max-train-events", type=int, default=0)
    parser.add_argument("--no-eval", action="store_true")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    data = load(args.dataset)
    data.t = data.t.long()
    if data.msg.size(-1) == 0:
        # PyG's TGNMemory drops empty raw messages when concatenating them (tgn.py
        # `_compute_msg`), which breaks on feature-less events; one zero feature avoids it.
        data.msg = torch.zeros(data.num_events, 1)
    split = chronological_split(data)
    train_idx = split.train_mask.nonzero().view(-1)
    if args.max_train_events:
        train_idx = train_idx[: args.max_train_events]
    train_data = data[train_idx]
    val_data = data[split.val_mask.nonzero().view(-1)]
    test_data = data[split.test_mask.nonzero().view(-1)]
    bs = args.batch_size
    train_loader = TemporalDataLoader(train_data, batch_size=bs, neg_sampling_ratio=1.0)
    val_loader = TemporalDataLoader(val_data, batch_size=200, neg_sampling_ratio=1.0)
    test_loader = TemporalDataLoader(test_data, batch_size=200, neg_sampling_ratio=1.0)
    neighbor_loader = LastNeighborLoader(data.num_nodes, size=10)

    memory_dim = time_dim = embedding_dim = 100
    memory = TGNMemory(data.num_nodes, data.msg.size(-1), memory_dim, time_dim,
                       message_module=IdentityMessage(data.msg.size(-1), memory_dim, time_dim),
                       aggregator_module=LastAggregator())
    gnn = GraphAttentionEmbedding(memory_dim, embedding_dim, data.msg.size(-1), memory.time_enc)
    link_pred = LinkPredictor(embedding_dim)
    optimizer = torch.optim.Adam(
        set(memory.parameters()) | set(gnn.parameters()) | set(link_pred.parameters()), lr=1e-4)
    criterion = torch.nn.BCEWithLogitsLoss()
    assoc = torch.empty(data.num_nodes, dtype=torch.long)

    def train() -> tuple[float, float]:
        memory.train()
        gnn.train()
        link_pred.train()
        memory.reset_state()
        neighbor_loader.reset_state()
        total_loss = 0.0
        start, cpu_start = time.perf_counter(), time.process_time()
        for batch in train_loader:
            optimizer.zero_grad()
            n_id, edge_index, e_id = neighbor_loader(batch.n_id)
            assoc[n_id] = torch.arange(n_id.size(0))
            z, last_update = memory(n_id)
            z = gnn(z, last_update, edge_index, data.t[e_id], data.msg[e_id])
            pos_out = link_pred(z[assoc[batch.src]], z[assoc[batch.dst]])
            neg_out = link_pred(z[assoc[batch.src]], z[assoc[batch.neg_dst]])
            loss = criterion(pos_out, torch.ones_like(pos_out))
            loss = loss + criterion(neg_out, torch.zeros_like(neg_out))
            memory.update_state(batch.src, batch.dst, batch.t, batch.msg)
            neighbor_loader.insert(batch.src, batch.dst)
            loss.backward()
            optimizer.step()
            memory.detach()
            total_loss += float(loss.detach()) * batch.num_events
        train.cpu_seconds = time.process_time() - cpu_start
        return total_loss / train_data.num_events, time.perf_counter() - start

    @torch.no_grad()
    def test(loader) -> dict:
        memory.eval()
        gnn.eval()
        link_pred.eval()
        torch.manual_seed(12345)
        pos_all, neg_all = [], []
        for batch in loader:
            n_id, edge_index, e_id = neighbor_loader(batch.n_id)
            assoc[n_id] = torch.arange(n_id.size(0))
            z, last_update = memory(n_id)
            z = gnn(z, last_update, edge_index, data.t[e_id], data.msg[e_id])
            pos_all.append(link_pred(z[assoc[batch.src]], z[assoc[batch.dst]]).sigmoid().view(-1))
            neg_all.append(link_pred(z[assoc[batch.src]], z[assoc[batch.neg_dst]]).sigmoid().view(-1))
            memory.update_state(batch.src, batch.dst, batch.t, batch.msg)
            neighbor_loader.insert(batch.src, batch.dst)
        return per_batch_ap_auc(torch.cat(pos_all), torch.cat(neg_all), 200)

    history = []
    for epoch in range(1, args.epochs + 1):
        loss, seconds = train()
        rec = {"epoch": epoch, "loss": loss, "train_seconds": seconds,
               "train_cpu_seconds": train.cpu_seconds,
               "events_per_s": train_data.num_events / seconds}
        if not args.no_eval:
            rec["val"] = test(val_loader)
            rec["test"] = test(test_loader)
        history.append(rec)
        print(json.dumps(rec), flush=True)
    result = {"dataset": args.dataset, "batch_size": bs, "epochs": args.epochs,
              "threads": torch.get_num_threads(), "history": history,
              "command": "python " + " ".join(sys.argv)}
    if args.out:
        write_json_atomic(args.out, result)
    return result


if __name__ == "__main__":
    main()
