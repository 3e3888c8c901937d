r"""NCN / NCNC link prediction (Wang, Yang & Zhang, ICLR 2024) and the decoders of their code.

``graphcl run ncnc|ncn|ncnc2|gae_cn|gae_ncn_head|cn|aa|ra`` read ``models/ncnc.yaml`` (the
authors' README flags per dataset; the method name picks the decoder) and train with the
authors' protocol (:class:`~graphcl.train.link.NCNLinkTask`): Adam with one learning rate for
the encoder (``gnnlr``) and one for the decoder (``prelr``), each Hits@K reported at its own
best validation epoch. ``init_from`` first trains that decoder (or loads
``<out dir>/<decoder>_seed<k>.pt``) and fine-tunes from it (the authors' ``--loadmod``);
``save_checkpoint: true`` writes the best epoch's weights there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from graphcl.methods import Method, Setup, register
from graphcl.models.ncn import MPNN, HeuristicPredictor, build_predictor
from graphcl.train.link import DEFAULTS, LinkData, NCNLinkTask, prepare_link_data


def build_modules(cfg: dict[str, Any], data: LinkData) -> torch.nn.ModuleDict:
    r"""``{"encoder": MPNN, "predictor": decoder}`` of ``cfg`` (no encoder for heuristics)."""
    predictor = build_predictor(
        cfg["predictor"], cfg["hiddim"], dropout=cfg["predp"], edge_dropout=cfg["preedp"],
        ln=cfg["lnnn"], use_xlin=cfg["use_xlin"], tailact=cfg["tailact"],
        twolayerlin=cfg["twolayerlin"], beta=cfg["beta"], cn_sample_deg=cfg["cndeg"],
        depth=cfg["depth"], scale=cfg["probscale"], offset=cfg["proboffset"], pt=cfg["pt"],
        alpha=cfg["alpha"], train_sample_deg=cfg["trndeg"], test_sample_deg=cfg["tstdeg"],
        split_size=cfg["splitsize"], cn_method=cfg["cn_method"],
    )
    if isinstance(predictor, HeuristicPredictor):
        return torch.nn.ModuleDict({"predictor": predictor})
    ids = data.x.dim() == 1
    encoder = MPNN(
        0 if ids else data.x.size(1), cfg["hiddim"], cfg["mplayers"], cfg["model"],
        dropout=cfg["gnndp"], xdropout=cfg["xdp"], taildropout=cfg["tdp"],
        edge_dropout=cfg["gnnedp"], ln=cfg["ln"], res=cfg["res"], jk=cfg["jk"],
        # the authors size the id table max_x + 1 with max_x = num_nodes
        num_embeddings=data.num_nodes + 1 if ids else None,
    )
    return torch.nn.ModuleDict({"encoder": encoder, "predictor": predictor})


def _task(cfg: dict[str, Any], data: LinkData) -> NCNLinkTask:
    return NCNLinkTask(data, batch_size=cfg["batch_size"], eval_batch_size=cfg["testbs"],
                       maskinput=cfg["maskinput"], joint_pos_neg=cfg["joint_pos_neg"],
                       hits_k=cfg["hits_k"])


def _optimizer(cfg: dict[str, Any], model: torch.nn.ModuleDict) -> torch.optim.Optimizer:
    groups = [{"params": list(model["predictor"].parameters()), "lr": cfg["prelr"]}]
    if cfg["gnnlr"] > 0:
        groups.insert(0, {"params": list(model["encoder"].parameters()), "lr": cfg["gnnlr"]})
    else:  # Adam with lr 0 (authors' frozen MPNN): skip the useless encoder gradients
        model["encoder"].requires_grad_(False)
    return torch.optim.Adam(groups, fused=True)  # fused: one kernel for all tensors (CPU too)


class NCNFamily(Method):
    description = "NCNC link prediction: GCN encoder + completed common-neighbour decoder"
    task = "link prediction"
    kinds = ("graph", "link")
    config_file = "ncnc"
    section_keys = ("variants",)
    predictor = "ncnc"
    quickstart = {"dataset": "synthetic:sbm",
                  "set": {"epochs": 5, "hiddim": 64, "batch_size": 512},
                  "metric": "test_hits@100"}
    examples = ("graphcl run ncnc --dataset cora --seeds 10 --out results/ncnc-cora.json",)

    @property
    def defaults(self) -> dict[str, Any]:  # type: ignore[override]
        return {**DEFAULTS, "predictor": self.predictor}

    def adjust(self, cfg: dict[str, Any]) -> dict[str, Any]:
        variants = cfg.get("variants") or {}
        base = {**cfg, "predictor": self.predictor}
        cfg = dict(base)
        if self.predictor in variants:  # e.g. ddi trains NCNC differently from NCN
            cfg.update(variants[self.predictor])
        if cfg.get("init_from"):  # the initialising decoder trains with the section's flags
            cfg["_init_config"] = {**base, "predictor": cfg["init_from"], "init_from": None}
        return cfg

    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        from graphcl.train.seed import seed_everything

        data = prepare_link_data("", dataset, seed, cfg)
        model = build_modules(cfg, data)
        task = _task(cfg, data)
        main = "valid_mrr" if data.split.valid_neg_dst is not None else f"valid_{cfg['metric']}"
        engine = {"max_epochs": int(cfg["epochs"]), "monitor": main, "selection": "per_metric"}
        if "encoder" not in model:  # heuristics: nothing to train
            return Setup(model, None, task, {**engine, "max_epochs": 0})
        if cfg.get("init_from"):
            self._initialise(model, data, cfg, seed, out_dir)
            seed_everything(seed)
        return Setup(model, _optimizer(cfg, model), task, engine)

    def _initialise(self, model: torch.nn.ModuleDict, data: LinkData, cfg: dict[str, Any],
                    seed: int, out_dir: Path | None) -> None:
        r"""Trains the ``init_from`` decoder (the section's flags, without the variant) and
        loads its weights with ``strict=False`` (the authors' ``--loadmod``); one saved in
        ``out_dir`` (``save_checkpoint``) is reused."""
        from graphcl.train.checkpoint import load_checkpoint
        from graphcl.train.engine import Engine
        from graphcl.train.seed import seed_everything

        init_cfg = {**DEFAULTS, **cfg["_init_config"]}
        saved = (Path(out_dir) / f"{init_cfg['predictor']}_seed{seed}.pt"
                 if out_dir is not None else None)
        if saved is not None and saved.is_file():
            state = load_checkpoint(saved)
        else:
            seed_everything(seed)
            init = build_modules(init_cfg, data)
            eng = Engine(init, _optimizer(init_cfg, init), max_epochs=int(init_cfg["epochs"]),
                         monitor=f"valid_{init_cfg['metric']}", progress=False)
            eng.fit(_task(init_cfg, data))
            state = eng.best_model_state
        model.load_state_dict(state, strict=False)

    def after_fit(self, setup: Setup, engine: Any, cfg: dict[str, Any], seed: int,
                  out_dir: Path | None) -> None:
        if cfg.get("save_checkpoint") and out_dir is not None and engine.best_model_state:
            from graphcl.train.checkpoint import save_checkpoint

            save_checkpoint(Path(out_dir) / f"{self.predictor}_seed{seed}.pt",
                            engine.best_model_state)


def _variant(name: str, predictor: str, description: str, **attrs: Any) -> None:
    register(type(f"NCN_{name}", (NCNFamily,), {
        "name": name, "predictor": predictor, "description": description, **attrs}))


_variant("ncnc", "ncnc", "NCNC link prediction: GCN encoder + completed common-neighbour decoder")
_variant("ncn", "ncn", "NCN link prediction: GCN encoder + common-neighbour decoder")
_variant("ncnc2", "ncnc2", "NCNC with completion of depth 2",
         quickstart={"dataset": "synthetic:sbm", "metric": "test_hits@100",
                     "set": {"epochs": 2, "hiddim": 32, "batch_size": 512}})
_variant("gae_cn", "gae_cn", "GAE with a common-neighbour count term (the NCN code's scn1)")
_variant("gae_ncn_head", "gae", "GCN encoder + Hadamard-MLP decoder of the NCN code (cn0)")
_variant("cn", "cn", "common-neighbour count heuristic (no training)")
_variant("aa", "aa", "Adamic-Adar heuristic (no training)")
_variant("ra", "ra", "resource-allocation heuristic (no training)")
