r"""A small CNN image classifier (``ConvNet``: 3×3 convolutions with batch norm, global
pooling, a linear head) on MNIST-layout data: the network population and test bed of
metanetwork pruning and of the ``lottery`` pruning plugin. A seeded ``val_size`` images of the
training set validate; the official test set tests. Config: ``models/cnn.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from graphcl.methods import DatasetKindError, Method, Setup, register
from graphcl.models.convnet import ConvNet
from graphcl.train.tasks import ImageClassificationTask

_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


def image_tensors(data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, int]:
    r"""Train and test images stacked as normalised ``[N, C, H, W]`` floats (MNIST's mean
    and std), their labels, and the number of training images."""
    imgs = torch.cat([data["train_images"], data["test_images"]]).float() / 255.0
    if imgs.dim() == 3:
        imgs = imgs[:, None]
    imgs = (imgs - 0.1307) / 0.3081
    labels = torch.cat([data["train_labels"], data["test_labels"]]).long()
    return imgs, labels, int(data["train_images"].size(0))


@register
class CNNMethod(Method):
    name = "cnn"
    description = "small CNN image classifier (conv + batch norm, global pooling) on MNIST"
    task = "image classification"
    kinds = ("other",)
    defaults = {"channels": [16, 32, 64], "pool_every": 1, "lr": 0.01, "weight_decay": 0.0,
                "epochs": 5,
                "patience": None, "batch_size": 128, "val_size": 5000, "max_train": None}
    quickstart = {"dataset": "synthetic:images", "set": {"epochs": 8, "channels": [8, 16],
                                                         "val_size": 100},
                  "metric": "test_acc"}
    examples = ("graphcl run cnn --dataset mnist --seeds 3",
                "graphcl run cnn --dataset mnist --stream repeat:4 --plugin lottery:rate=0.5")

    def check_dataset(self, dataset: Any, name: str) -> None:
        if not (isinstance(dataset, dict) and all(k in dataset for k in _KEYS)):
            raise DatasetKindError(f"method 'cnn' needs an image set in MNIST's layout "
                                   f"({', '.join(_KEYS)}); dataset {name!r} is not one")

    def build(self, dataset: Any, cfg: dict[str, Any], seed: int, *,
              out_dir: Path | None = None) -> Setup:
        imgs, labels, n_train = image_tensors(dataset)
        perm = torch.randperm(n_train, generator=torch.Generator().manual_seed(int(seed)))
        val = int(cfg["val_size"])
        if not 0 < val < n_train:
            raise ValueError(f"cnn: val_size must lie in (0, {n_train}), got {val}")
        train = perm[val:]
        if cfg["max_train"] is not None:
            train = train[: int(cfg["max_train"])]
        splits = {"train": train, "valid": perm[:val],
                  "test": torch.arange(n_train, imgs.size(0))}
        model = ConvNet(cfg["channels"], int(labels.max()) + 1, imgs.size(1),
                        int(cfg["pool_every"]))
        opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]),
                               weight_decay=float(cfg["weight_decay"]))
        task = ImageClassificationTask(imgs, labels, splits, batch_size=int(cfg["batch_size"]),
                                       seed=seed)
        return Setup(model, opt, task, {"max_epochs": int(cfg["epochs"]),
                                        "patience": cfg["patience"], "monitor": "valid_acc"})
