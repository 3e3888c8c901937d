"""ForwardGNN: layer-local training (graphcl.models.forwardgnn, graphcl.train.forward,
graphcl run forwardgnn)."""

import math

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv, SAGEConv

from graphcl.data.split import kfold_node_split
from graphcl.methods import ConfigError, get_method
from graphcl.models.forwardgnn import ForwardGNN, GraphOps, LayerStack, LocalConv, NodeInput
from graphcl.train.forward import FFLabelProblem, LayerTask, LinkProblem, make_problem
from graphcl.train.plugins import Plugin


def _toy(n=40, c=3, f=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % c
    x = (torch.rand(n, f, generator=g) < 0.3).float() + torch.nn.functional.one_hot(y, f)
    src = torch.randint(0, n, (120,), generator=g)
    dst = torch.where(torch.rand(120, generator=g) < 0.8, (src + c) % n,
                      torch.randint(0, n, (120,), generator=g))
    ei = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
    masks = {"train": torch.arange(n) < n // 2, "valid": (torch.arange(n) >= n // 2)
             & (torch.arange(n) < 3 * n // 4), "test": torch.arange(n) >= 3 * n // 4}
    return x, ei, y, masks


def test_sf_local_loss_by_hand():
    # two real nodes of classes 0 and 1, no real edge; virtual nodes 2, 3; identity weights
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1])
    masks = {k: torch.tensor([True, True]) for k in ("train", "valid", "test")}
    problem = make_problem("sf", x, torch.zeros(2, 0, dtype=torch.long), y, masks, 2)
    stack = LayerStack(2, 2, 1)
    with torch.no_grad():
        stack[0].lin.weight.copy_(torch.eye(2))
    model = ForwardGNN(stack, num_classes=2, in_features=2)
    model.virtual_x.copy_(torch.eye(2))
    # GCN, self loops, degree 2 everywhere: z_0 = z_2 = [1, 0], z_1 = z_3 = [0, 1];
    # logits [[1, 0], [0, 1]]: CE = log(1 + e^-1) per node
    assert problem.loss(model, 0).item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)
    assert problem.evaluate(model, 0, "test") == {"acc": 1.0}


def test_ff_goodness_and_loss_by_hand():
    masks = {k: torch.tensor([True]) for k in ("train", "valid", "test")}
    p = FFLabelProblem(torch.ones(1, 2), torch.zeros(2, 0, dtype=torch.long), torch.tensor([0]),
                       masks, 2, theta=2.0)
    # positive goodness 1 + 1 - 2 = 0 -> BCE log 2; negative 4 - 2 = 2 -> BCE log(1 + e^2)
    loss = p.ff_loss(torch.tensor([[1.0, 1.0]]), [torch.tensor([[2.0, 0.0]])])
    assert loss.item() == pytest.approx(math.log(2) + math.log(1 + math.exp(2)), abs=1e-6)


@pytest.mark.parametrize("conv,ref", [("gcn", GCNConv), ("sage", SAGEConv)])
def test_local_conv_equals_pyg_on_sparse_input(conv, ref):
    x, ei, _, _ = _toy()
    ours = LocalConv(conv, x.size(1), 8, act=False)
    theirs = ref(x.size(1), 8)
    if conv == "gcn":
        theirs.lin.weight.data.copy_(ours.lin.weight)
        theirs.bias.data.copy_(ours.bias)
    else:
        theirs.lin_l.weight.data.copy_(ours.lin_l.weight)
        theirs.lin_l.bias.data.copy_(ours.lin_l.bias)
        theirs.lin_r.weight.data.copy_(ours.lin_r.weight)
    xn = x / (x.norm(dim=1, keepdim=True) + 1e-8)
    a = ours(NodeInput(x.to_sparse()), GraphOps(ei, x.size(0)))
    assert torch.allclose(a, theirs(xn, ei), atol=1e-5)
    w = ours.lin.weight if conv == "gcn" else ours.lin_l.weight
    a.square().sum().backward()
    g_sparse, w.grad = w.grad.clone(), None
    ours(NodeInput(x), GraphOps(ei, x.size(0))).square().sum().backward()
    assert torch.allclose(g_sparse, w.grad, atol=1e-5)


class _Isolation(Plugin):
    r"""Fails the run if a training step gives a gradient to any layer but the one it trains."""

    def __init__(self):
        self.checked = 0

    def after_backward(self, strategy, **kwargs):
        batch = strategy.mb  # a layer (greedy) or the layers of a top-down phase
        active = set(batch) if isinstance(batch, list) else {batch}
        for i, layer in enumerate(strategy.model.stack.layers):
            grads = [p.grad for p in layer.parameters()]
            if i in active:
                assert all(g is not None for g in grads), f"layer {i} got no gradient"
            else:
                assert all(g is None for g in grads), f"a gradient crossed into layer {i}"
        self.checked += 1


@pytest.mark.parametrize("variant", ["sf", "ff-la", "ff-vn", "link-ce", "link-ff"])
def test_no_gradient_crosses_a_layer_boundary(variant):
    from graphcl.train.engine import Engine

    x, ei, y, masks = _toy()
    if variant.startswith("link"):
        pos = ei[:, :60]
        neg = torch.randint(0, x.size(0), (2, 60), generator=torch.Generator().manual_seed(1))
        pairs = {s: (torch.cat([pos, neg], 1), torch.cat([torch.ones(60), torch.zeros(60)]))
                 for s in ("train", "valid", "test")}
        problem = LinkProblem(x, {s: ei for s in pairs}, pairs, x.size(0), variant[5:])
        model, monitor = ForwardGNN(LayerStack(x.size(1), 8, 3)), "valid_auc"
    else:
        problem = make_problem(variant, x, ei, y, masks, 3)
        in_dim = x.size(1) + (3 if variant == "ff-la" else 0)
        model = ForwardGNN(LayerStack(in_dim, 8, 3), num_classes=3, in_features=x.size(1),
                           labels=y, virtual=variant != "ff-la")
        monitor = "valid_acc"
    plugin = _Isolation()
    engine = Engine(model, torch.optim.Adam(model.parameters(), lr=1e-2), plugins=[plugin],
                    max_epochs=3, monitor=monitor, progress=False)
    engine.fit_stream([LayerTask(problem, i) for i in range(3)])
    assert plugin.checked == 9


def test_frozen_layers_do_not_move_and_their_cache_follows_their_parameters():
    x, ei, y, masks = _toy()
    problem = make_problem("sf", x, ei, y, masks, 3)
    model = ForwardGNN(LayerStack(x.size(1), 8, 2), num_classes=3, in_features=x.size(1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=5e-4)
    before = [p.detach().clone() for p in model.stack[0].parameters()]
    for _ in range(3):  # train layer 1: layer 0 is frozen, even under weight decay
        opt.zero_grad(set_to_none=True)
        problem.loss(model, 1).backward()
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.stack[0].parameters(), strict=True))
    first = problem._state(model, 1)[0]
    assert problem._state(model, 1)[0] is first  # cached
    with torch.no_grad():
        model.stack[0].lin.weight.add_(0.1)  # a change below invalidates it
    assert problem._state(model, 1)[0] is not first


def test_state_round_trip():
    _, _, y, _ = _toy()
    a = ForwardGNN(LayerStack(15, 8, 2, "sage"), num_classes=3, in_features=12, labels=y, seed=3)
    b = ForwardGNN(LayerStack(15, 8, 2, "sage"), num_classes=3, in_features=12, labels=y, seed=4)
    assert not torch.equal(a.virtual_x, b.virtual_x)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.virtual_x, b.virtual_x) and torch.equal(a.wrong, b.wrong)
    assert (a.wrong != y.view(-1, 1)).all()  # a wrong class is never the label
    assert torch.equal(a.wrong.sort(1).values.sum(1) + y, torch.full_like(y, 3))


def test_split_reproduces_the_authors_published_cora_ml_splits():
    # NamyongPark/forwardgnn-datasplits, CitationFull-Cora_ML node-5splits, splits 0 and 3
    for i, test_head, test_sum, val_head, val_sum in (
            (0, [4, 6, 7, 9, 18, 32, 43, 45], 870055, [1, 13, 14, 15, 19, 22, 23, 27], 716585),
            (3, [8, 13, 14, 15, 21, 23, 25, 27], 918225, [0, 2, 3, 16, 38, 40, 41, 44], 698995)):
        m = kfold_node_split(2995, i)
        t, v = m["test"].nonzero().view(-1), m["valid"].nonzero().view(-1)
        assert (t.numel(), v.numel(), int(m["train"].sum())) == (599, 480, 1916)
        assert t[:8].tolist() == test_head and int(t.sum()) == test_sum
        assert v[:8].tolist() == val_head and int(v.sum()) == val_sum
        assert not (m["train"] & m["valid"]).any() and not (m["train"] & m["test"]).any()


def test_runs_are_deterministic_and_record_every_depth():
    from graphcl.data.synthetic import attributed_sbm
    from graphcl.runner import run_seed

    m = get_method("forwardgnn")
    data = attributed_sbm(seed=0)
    cfg = m.configure({}, (), {"num_layers": 3, "epochs": 20, "hidden": 16})
    a = run_seed(m, data, cfg, 1, progress=False)["metrics"]
    b = run_seed(m, data, cfg, 1, progress=False)["metrics"]
    assert a == b and {"test_acc_l1", "test_acc_l2", "test_acc_l3"} <= set(a)
    assert a["test_acc"] == a["test_acc_l3"]


@pytest.mark.parametrize("variant,mode", [("sf-top2input", "input"), ("sf-top2loss", "loss")])
def test_top_down_updates_stay_local_and_alternate(variant, mode):
    from graphcl.data.synthetic import attributed_sbm
    from graphcl.runner import run_seed

    m = get_method("forwardgnn")
    cfg = m.configure({}, (), {"variant": variant, "num_layers": 3, "epochs": 4, "hidden": 16})
    plugin = _Isolation()
    out = run_seed(m, attributed_sbm(num_nodes=200, seed=0), cfg, 0, plugins=[plugin],
                   progress=False)
    # alternating red-black: two updates per time step (layers 0, 2 then 1); Top-To-Loss: one
    assert plugin.checked == (8 if mode == "input" else 4)
    task = out["setup"].task
    assert len(task.states) == 3 and task.state_dict()["states"][0].shape == (205, 16)


@pytest.mark.parametrize("variant", ["bp", "ff-la", "ff-vn", "sf-top2input", "sf-top2loss"])
def test_other_variants_train(variant):
    from graphcl.data.synthetic import attributed_sbm
    from graphcl.runner import run_seed

    m = get_method("forwardgnn")
    res = run_seed(m, attributed_sbm(seed=0), m.configure({}, (), {
        "variant": variant, "epochs": 40, "hidden": 16, "lr": 0.01}), 0,
        progress=False)["metrics"]
    assert res["test_acc"] > 0.5  # 5 planted blocks: chance is 0.2


def test_bad_input():
    m = get_method("forwardgnn")
    with pytest.raises(ConfigError, match="variant 'ff-la' does not fit task='link'"):
        m.configure({}, (), {"task": "link", "variant": "ff-la"})
    with pytest.raises(ConfigError, match="num_layers must be a positive integer"):
        m.configure({}, (), {"num_layers": 0})
    with pytest.raises(ConfigError, match="divisible by heads"):
        m.configure({}, (), {"conv": "gat", "hidden": 30})
    with pytest.raises(ValueError, match="at least 2 classes"):
        make_problem("ff-vn", torch.ones(3, 2), torch.zeros(2, 0, dtype=torch.long),
                     torch.zeros(3, dtype=torch.long),
                     {k: torch.ones(3, dtype=torch.bool) for k in ("train", "valid", "test")}, 1)
    one_class = Data(x=torch.ones(10, 3), edge_index=torch.tensor([[0, 1], [1, 0]]),
                     y=torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="1 class"):
        m.build(one_class, m.configure({}, (), {}), 0)
    with pytest.raises(ValueError, match="refers to node 5"):
        GraphOps(torch.tensor([[0], [5]]), 3)


def test_cora_ml_single_forward(data_root):
    from graphcl.data.registry import load
    from graphcl.runner import run_seed

    m = get_method("forwardgnn")
    d = load("cora-ml", root=data_root)
    res = run_seed(m, d, m.configure({}, (), {"epochs": 60, "patience": 10}), 0,
                   progress=False)["metrics"]
    assert res["test_acc"] > 0.8 and res["test_acc_l1"] > 0.7


def test_defaults_run_on_a_user_npz_graph(tmp_path):
    # an attributed graph in the CitationFull/gnn-benchmark .npz format that ships nowhere:
    # 4 planted communities, binary bag-of-words features with a community-specific vocabulary
    import numpy as np
    import scipy.sparse as sp

    from graphcl.runner import run_experiment

    rng = np.random.default_rng(0)
    n, c, f = 400, 4, 120
    y = np.arange(n) % c
    same = y[:, None] == y[None, :]
    adj = sp.csr_matrix(np.triu(rng.random((n, n)) < np.where(same, 0.04, 0.004), 1))
    words = rng.random((n, f)) < np.where(np.arange(f)[None, :] // (f // c) == y[:, None],
                                          0.15, 0.03)
    attr = sp.csr_matrix(words.astype(np.float32))
    path = tmp_path / "graph.npz"
    np.savez(path, adj_data=adj.data, adj_indices=adj.indices, adj_indptr=adj.indptr,
             adj_shape=adj.shape, attr_data=attr.data, attr_indices=attr.indices,
             attr_indptr=attr.indptr, attr_shape=attr.shape, labels=y)
    res = run_experiment("forwardgnn", f"npz:{path}", overrides={"epochs": 100},
                         progress=False)
    assert res["metrics"]["test_acc"]["mean"] > 0.7


def test_bp_gat_maps_to_any_class_count_with_averaged_heads():
    # as PyG's GAT: the layer that maps to the output averages its heads (7 classes, 4 heads)
    x, ei, _, _ = _toy()
    stack = LayerStack(x.size(1), 8, 2, "gat", out_channels=7, final_act=False)
    assert stack(NodeInput(x, normalize=False), GraphOps(ei, x.size(0))).shape == (40, 7)
    assert not stack[1].gat.concat and stack[0].gat.concat
    with pytest.raises(ValueError, match="divisible by its 4 heads"):
        LocalConv("gat", 5, 7)
