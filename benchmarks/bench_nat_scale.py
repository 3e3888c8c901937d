r"""NAT throughput and memory as the event count grows: CollegeMsg, JODIE Wikipedia, and random
streams of 0.25M, 1M and 3M events over 100,000 nodes.

Each size trains one pass (batch 100, the zoo's NAT defaults, one random negative per event)
over its events in a fresh process, and reports training events/s, the temporal state's size
(N-caches + self representations, fixed by the node count and the cache sizes) and the
process's peak RSS. Cost linear in events shows as constant events/s. Run on an idle machine::

    python benchmarks/bench_nat_scale.py --out benchmarks/results/bench_nat_scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

SIZES = [("collegemsg", None), ("wikipedia-nofeat", None), ("random", 250_000), ("random", 1_000_000),
         ("random", 3_000_000)]


def stream(name: str, events: int | None):
    if name == "random":
        g = torch.Generator().manual_seed(0)
        n = 100_000
        src = torch.randint(0, n, (events,), generator=g)
        dst = torch.randint(0, n, (events,), generator=g)
        t = torch.arange(events, dtype=torch.float64)
        return src, dst, t, n
    from graphcl.data.registry import load

    d = load(name)
    return d.src.long(), d.dst.long(), d.t.to(torch.float64), int(d.num_nodes)


def one(name: str, events: int | None, threads: int) -> dict:
    from graphcl.methods import get_method
    from graphcl.models.nat import NAT

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    src, dst, t, n = stream(name, events)
    cfg = get_method("nat").configure({}, (), {})
    model = NAT(n, self_dim=cfg["self_dim"], ngh_dim=cfg["ngh_dim"], sizes=cfg["n_degree"],
                pos_dim=cfg["pos_dim"], time_dim=cfg["time_dim"], join_dim=cfg["join_dim"],
                replace_prob=cfg["replace_prob"])
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], fused=True)
    g = torch.Generator().manual_seed(1)
    bs = int(cfg["batch_size"])
    start = time.perf_counter()
    for i in range(0, src.numel(), bs):
        s, d, tt = src[i:i + bs], dst[i:i + bs], t[i:i + bs]
        neg = dst[torch.randint(0, dst.numel(), (s.numel(),), generator=g)]
        opt.zero_grad()
        pos_out, neg_out, ctx = model(s, d, tt, neg)
        loss = (F.binary_cross_entropy_with_logits(pos_out, torch.ones_like(pos_out))
                + F.binary_cross_entropy_with_logits(neg_out, torch.zeros_like(neg_out)))
        loss.backward()
        opt.step()
        model.update_state(s, d, tt, ctx=ctx, e_id=torch.arange(i, i + s.numel()))
    secs = time.perf_counter() - start
    return {"stream": name, "nodes": n, "events": int(src.numel()), "seconds": secs,
            "events_per_s": src.numel() / secs, "state_mib": model.state_nbytes() / 2**20,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="")
    p.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # child process: name events
    args = p.parse_args(argv)
    if args.one:
        events = None if args.one[1] == "all" else int(args.one[1])
        print(json.dumps(one(args.one[0], events, args.threads)))
        return {}
    rows = []
    for name, events in SIZES:  # a fresh process per size: its own peak RSS
        out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--one",
                              name, str(events or "all")], capture_output=True, text=True,
                             check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    result = {"command": "python " + " ".join(sys.argv), "threads": args.threads,
              "load": os.getloadavg(), "rows": rows}
    if args.out:
        from graphcl.train.checkpoint import write_json_atomic

        write_json_atomic(Path(args.out), result)
    return result


if __name__ == "__main__":
    main()
