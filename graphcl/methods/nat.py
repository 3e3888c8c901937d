r"""NAT: temporal link prediction with hashed neighbourhood caches (Luo & Li, LoG 2022).

``graphcl run nat`` trains :class:`~graphcl.models.nat.NAT` under the same protocol and split
as ``graphcl run tgn`` (:class:`~graphcl.train.temporal.TemporalLinkTask`: chronological
70/15/15 split with 10 % new nodes, state reset every epoch, early stopping on validation AP,
test from the best epoch's end-of-validation state), so the two are compared on identical
events and negatives. With ``ind_replay`` (default on) the new-node (inductive) test is also
scored as the released code does (``test_ind_replay_ap``), from a reset state that replays every
event before the test period.
Config: ``models/nat.yaml`` (the released code's parser defaults and README settings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from graphcl.methods import ConfigError, Method, Setup, register
from graphcl.models.nat import NAT
from graphcl.train.temporal import link_protocol


@register
class NATMethod(Method):
    name = "nat"
    description = "NAT: joint neighbourhood features from hashed N-caches (temporal links)"
    task = "temporal link prediction"
    kinds = ("temporal",)
    defaults = {
        "n_degree": [32, 16], "self_dim": 72, "ngh_dim": 4, "pos_dim": 16, "time_dim": 1,
        "join_dim": 16, "pooling": "sum", "heads": 2, "dropout": 0.1, "replace_prob": 0.9,
        "time_encoding": "absolute", "time_scale": None,
        "lr": 1e-4, "batch_size": 100, "eval_batch_size": 200, "epochs": 50, "patience": 3,
        "mrr_num_neg": 100, "mrr_strategy": "hist_rnd", "mrr_seed": 7, "val_ratio": 0.15,
        "test_ratio": 0.15, "new_node_ratio": 0.1, "split_seed": 2020, "ind_replay": True,
        "max_train_events": None,
    }
    quickstart = {"dataset": "synthetic:temporal-sbm", "set": {"epochs": 2, "mrr_num_neg": 10},
                  "metric": "test_ap"}
    examples = ("graphcl run nat --dataset collegemsg --seeds 5 --out results/nat-uci.json",
                "graphcl run nat --dataset wikipedia --set n_degree=[16] pooling=attention")

    def configure(self, file_config: Any, dataset_names: Any = (), overrides: Any = None):
        cfg = super().configure(file_config, dataset_names, overrides)
        deg = cfg["n_degree"]
        deg = [deg] if isinstance(deg, int) else deg
        if (not isinstance(deg, list | tuple) or not 1 <= len(deg) <= 2
                or not all(isinstance(m, int) and m > 0 for m in deg)):
            raise ConfigError(f"method 'nat': n_degree must be one or two positive cache "
                              f"sizes (hop 1, hop 2), got {cfg['n_degree']!r}")
        cfg["n_degree"] = list(deg)
        if not 0.0 <= float(cfg["replace_prob"]) <= 1.0:
            raise ConfigError(f"method 'nat': replace_prob must be in [0, 1], got "
                              f"{cfg['replace_prob']!r}")
        return cfg

    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        data = dataset
        task, scale, engine = link_protocol(data, cfg, seed, ind_replay=bool(cfg["ind_replay"]))
        x = getattr(data, "x", None)
        nat = NAT(int(data.num_nodes), data.msg, x if isinstance(x, torch.Tensor) else None,
                  self_dim=cfg["self_dim"], ngh_dim=cfg["ngh_dim"], sizes=cfg["n_degree"],
                  pos_dim=cfg["pos_dim"], time_dim=cfg["time_dim"], join_dim=cfg["join_dim"],
                  pooling=cfg["pooling"], heads=cfg["heads"], dropout=cfg["dropout"],
                  replace_prob=cfg["replace_prob"], seed=seed,
                  time_encoding=cfg["time_encoding"], time_scale=scale)
        model = torch.nn.ModuleDict({"nat": nat})
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"], fused=True)
        return Setup(model, optimizer, task, engine, stats=_state_size)


def _state_size(engine: Any) -> dict[str, float]:
    return {"state_mib": engine.model["nat"].state_nbytes() / 2**20}
