r"""Metanetwork pruning: the group-sparsity term by hand and against Torch-Pruning's injected
gradient, the learning-rate milestones, meta-training through the Engine, the method end to end
(speed-up reached, baselines at the same budget) on synthetic images and on MNIST, bad input."""

import json

import pytest
import torch
from torch import nn

from graphcl.nn.netgraph import graph_parameters, network_to_graph
from graphcl.nn.structured_pruning import group_penalty


def test_group_penalty_by_hand():
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        net[2].weight.copy_(torch.tensor([[3.0, 4.0]]))
    graph = network_to_graph(net, (2,))
    # hidden channel a: row 1 + column 9 (importance sqrt(5)); b: 4 + 16 (sqrt(10)):
    # a is the weakest group (gamma = alpha = 16), b the strongest (gamma = 1); inputs and
    # the output unit are not groups
    value = group_penalty(graph, graph_parameters(graph), reg=2.0, alpha=16.0)
    assert value.item() == pytest.approx(0.5 * 2.0 * (16 * 10 + 1 * 20))


@pytest.mark.parametrize("residual", [False, True])
def test_group_penalty_gradient_is_torch_pruning_regulariser(residual):
    tp = pytest.importorskip("torch_pruning")
    from graphcl.models.convnet import ConvNet

    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(6), nn.ReLU())
            self.body = nn.Sequential(nn.Conv2d(6, 6, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(6))
            self.head = nn.Linear(6, 3)

        def forward(self, x):
            h = self.stem(x)
            h = torch.relu(self.body(h) + h)
            return self.head(h.mean((2, 3)))

    torch.manual_seed(0)
    model = Res() if residual else ConvNet((4, 6), num_classes=3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
    x = torch.randn(1, 1, 8, 8)
    graph = network_to_graph(model, (1, 8, 8))
    params = {n: p.detach().requires_grad_() for n, p in graph_parameters(graph).items()}
    group_penalty(graph, params, reg=0.3, alpha=16.0).backward()
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    pruner = tp.pruner.GroupNormPruner(model, x, tp.importance.GroupMagnitudeImportance(p=2),
                                       reg=0.3, alpha=16, ignored_layers=[last])
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    pruner.regularize(model, alpha=16, bias=False)
    for name, p in model.named_parameters():
        ours = params[name].grad
        ours = torch.zeros_like(p) if ours is None else ours.reshape(p.shape)
        assert torch.allclose(ours, p.grad, atol=1e-5), name


def test_multistep_lr_plugin_decays_at_milestones():
    from graphcl.train.engine import Engine
    from graphcl.train.plugins import MultiStepLR

    class Task:
        def train_batches(self, strategy):
            yield 0

        def training_loss(self, strategy, batch):
            seen.append(strategy.optimizer.param_groups[0]["lr"])
            return (strategy.model.weight ** 2).sum()

        def evaluate(self, strategy, split):
            return {"acc": 0.0}

    seen: list[float] = []
    model = nn.Linear(2, 1)
    Engine(model, torch.optim.SGD(model.parameters(), lr=1.0),
           plugins=[MultiStepLR([2, 3], gamma=0.5)], max_epochs=4, eval_splits=("valid",),
           monitor="valid_acc", progress=False).fit(Task())
    assert seen == [1.0, 1.0, 0.5, 0.25]
    with pytest.raises(ValueError, match="milestones must be >= 0"):
        MultiStepLR([-1])


def test_zero_rho_metanetwork_writes_the_same_network():
    from graphcl.models.convnet import ConvNet
    from graphcl.models.metanet import MetaNetwork
    from graphcl.train.metaprune import edit_network

    torch.manual_seed(0)
    net = ConvNet((4, 6)).eval()
    graph = network_to_graph(net, (1, 8, 8))
    meta = MetaNetwork(graph.x.size(1), graph.edge_attr.size(1), hidden=8, num_layers=1,
                       rho=0.0)
    out = edit_network(meta, graph, net)
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(out(x), net(x))


def _tiny(**extra):
    return {"channels": [4, 8], "model_epochs": 3, "population": 3, "val_models": 1,
            "val_size": 100, "hidden": 8, "num_layers": 2, "epochs": 2, "steps_per_model": 3,
            "batch_size": 32, "val_images": 100, **extra}


def test_metaprune_end_to_end_on_synthetic_images(tmp_path):
    pytest.importorskip("torch_pruning")
    from graphcl.runner import run_experiment

    out = tmp_path / "mp.json"
    res = run_experiment("metaprune", "synthetic:images", overrides=_tiny(speedup=[1.5, 2]),
                         progress=False, out=out)
    m = {k: v["mean"] for k, v in res["metrics"].items()}
    for arm in ("metanet", "magnitude", "depgraph"):
        for s in ("1.5", "2"):
            assert m[f"speedup:{arm}@{s}"] >= float(s)
            assert 0.0 <= m[f"test_acc:{arm}@{s}"] <= 1.0
            assert m[f"latency_ratio:{arm}@{s}"] > 0
    assert "valid_pruned_acc" in m and "test_acc:base" in m
    # the population is cached beside the results and reused by the next run
    cached = sorted((tmp_path / "metaprune_population").glob("*.pt"))
    assert len(cached) == 4
    again = run_experiment("metaprune", "synthetic:images", overrides=_tiny(speedup=[1.5, 2]),
                           progress=False, out=tmp_path / "again.json")
    # the selected metanetwork is saved; metanet=PATH prunes with it, without a population
    saved = tmp_path / "metaprune_metanet_seed0.pt"
    assert saved.is_file()
    reused = run_experiment("metaprune", "synthetic:images", progress=False,
                            overrides=_tiny(speedup=[1.5, 2], metanet=str(saved)))
    for key in ("test_acc:metanet_edited", "test_acc:metanet@2", "test_acc:magnitude@2"):
        assert reused["metrics"][key] == again["metrics"][key]
    with pytest.raises(ValueError, match="was trained on"):
        run_experiment("metaprune", "synthetic:images", progress=False,
                       overrides=_tiny(channels=[4, 4], metanet=str(saved)))
    first = json.loads(out.read_text())["metrics"]
    assert {k: v for k, v in again["metrics"].items() if "latency" not in k} == \
        {k: v for k, v in first.items() if "latency" not in k}


@pytest.mark.parametrize("bad, match", [({"speedup": [0.5]}, "speedup targets must be >= 1"),
                                        ({"arms": ["foo"]}, "unknown arms"),
                                        ({"val_models": 3}, "val_models must lie in")])
def test_metaprune_bad_input(bad, match):
    from graphcl.runner import run_experiment

    with pytest.raises(ValueError, match=match):
        run_experiment("metaprune", "synthetic:images", overrides=_tiny(**bad),
                       progress=False)


def test_gcn_channel_pruning_equals_masking_and_counts_macs():
    import copy

    from graphcl.models.gnn import GNNClassifier
    from graphcl.nn.structured_pruning import _layer_macs, graph_prune_to_speedup

    torch.manual_seed(0)
    model = GNNClassifier(3, 4, 2, 2, "gcn").eval()
    graph = network_to_graph(model, (3,), {"batch": None})
    # by hand, N = 4 nodes, E = 6 edges: 4*3*4 + (6+4)*4 = 88, then 4*4*2 + (6+4)*2 = 52
    assert _layer_macs(graph, torch.tensor([3, 4, 2]), model, 4, 6).item() == 140
    x = torch.randn(4, 3)
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    pruned = copy.deepcopy(model)
    info = graph_prune_to_speedup(pruned, graph, 1.3, num_nodes=4, num_edges=6)
    assert info["speedup"] >= 1.3 and pruned.gnn.convs[0].lin.weight.shape[0] < 4
    # the pruned network computes what the original does with those channels zeroed
    kept_rows = pruned.gnn.convs[0].lin.weight
    rows = [int((model.gnn.convs[0].lin.weight == r).all(1).nonzero()) for r in kept_rows]
    masked = copy.deepcopy(model)
    gone = sorted(set(range(4)) - set(rows))
    with torch.no_grad():
        masked.gnn.convs[0].lin.weight[gone] = 0
        masked.gnn.convs[0].bias[gone] = 0
        masked.gnn.convs[1].lin.weight[:, gone] = 0
    assert torch.allclose(pruned(x, ei), masked(x, ei), atol=1e-6)
    with pytest.raises(ValueError, match="unreachable"):
        graph_prune_to_speedup(copy.deepcopy(model), graph, 50.0, num_nodes=4, num_edges=6)
    with pytest.raises(ValueError, match="must be >= 1"):
        graph_prune_to_speedup(copy.deepcopy(model), graph, 0.9, num_nodes=4, num_edges=6)


def test_group_sparsity_graph_backend_matches_torch_pruning():
    pytest.importorskip("torch_pruning")
    from types import SimpleNamespace

    from graphcl.lifelong.pruning import GroupSparsity
    from graphcl.models.convnet import ConvNet

    grads = []
    for backend in ("torch-pruning", "graph"):
        torch.manual_seed(0)
        model = ConvNet((4, 6), num_classes=3)
        plugin = GroupSparsity(reg=0.2, alpha=16, input_shape=[1, 8, 8], backend=backend)
        strategy = SimpleNamespace(model=model, experience=None)
        plugin.before_training(strategy)
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        plugin.before_update(strategy)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name, g in grads[0].items():
        assert torch.allclose(g, grads[1][name], atol=1e-5), name
    with pytest.raises(ValueError, match="backend must be"):
        GroupSparsity(backend="foo")


def test_metaprune_on_cora_prunes_a_gcn(data_root):
    pytest.importorskip("torch_pruning")
    from graphcl.runner import run_experiment

    res = run_experiment(
            "metaprune", "cora", progress=False, root=data_root,
            overrides={"population": 2, "val_models": 1, "epochs": 1, "speedup": [2.0],
                       "gnn": {"conv": "gcn", "hidden": 32, "num_layers": 2, "dropout": 0.5,
                               "weight_decay": 5e-4, "split": "auto"},
                       "graph": {"model_epochs": 30, "model_lr": 0.01, "hidden": 8,
                                 "num_layers": 1, "steps_per_model": 2, "finetune_lr": 0.01,
                                 "before_epochs": 3, "after_epochs": 3}})
    m = {k: v["mean"] for k, v in res["metrics"].items()}
    assert m["test_acc:base"] > 0.6  # a trained GCN on Cora's public split
    for arm in ("metanet", "magnitude", "depgraph"):
        assert m[f"speedup:{arm}@2"] >= 2.0
        assert m[f"test_acc:{arm}@2"] > 0.3
