r"""Networks as graphs: the mapping round trip is exact and the rebuilt network computes the
same function, for an MLP, a CNN with batch norm and a residual CNN (identity and projection
shortcuts); layers the mapping cannot represent are named in the error."""

import pytest
import torch
from torch import nn

from graphcl.nn.netgraph import (
    IDENTITY,
    SHORTCUT,
    WEIGHT,
    UnsupportedLayer,
    graph_to_network,
    network_to_graph,
)


class Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x if self.down is None else self.down(x)
        return torch.relu(out + short)


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.block1 = Block(4, 4)
        self.block2 = Block(4, 6, stride=2)
        self.fc = nn.Linear(6, 10)

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        x = self.block2(self.block1(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(3, 5, 5, padding=2), nn.BatchNorm2d(5),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 4))


def _randomise(model):
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_()
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet"])
def test_round_trip_is_exact_and_computes_the_same_function(name):
    torch.manual_seed(0)
    model, shape = {"mlp": (nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)), (6,)),
                    "cnn": (_cnn(), (1, 8, 8)), "resnet": (ResNet(), (1, 8, 8))}[name]
    model = _randomise(model)
    g = network_to_graph(model, shape)
    back = graph_to_network(g, model)
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    # a graph with other values decodes into another network with those values
    g.edge_attr = g.edge_attr * 2
    doubled = graph_to_network(g, model)
    first = next(m for m in doubled.modules() if isinstance(m, nn.Conv2d | nn.Linear))
    orig = next(m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear))
    assert torch.equal(first.weight, 2 * orig.weight)
    x = torch.randn(4, *shape)
    assert torch.allclose(back(x), model(x))


def test_graph_layout_by_hand():
    # MLP 2 -> 3 -> 1: 2 + 3 + 1 nodes, 6 + 3 weight edges, biases in slot 0
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    g = network_to_graph(model, (2,))
    assert g.num_nodes == 6 and g.edge_index.size(1) == 9
    assert g.layer_ptr.tolist() == [0, 2, 5, 6]
    w = model[0].weight
    # edge (input i -> hidden o) carries w[o, i] in the centre of a 1x1 "kernel"
    e = ((g.edge_index[0] == 1) & (g.edge_index[1] == 2 + 2)).nonzero().item()
    assert g.edge_attr[e, 0] == w[2, 1]
    assert torch.equal(g.x[2:5, 0], model[0].bias.detach())
    assert torch.equal(g.x[:2], torch.tensor([[0., 1, 0, 0, 1, 1, 0, 0, 1]] * 2))


def test_residual_shortcuts():
    model = _randomise(ResNet())
    g = network_to_graph(model, (1, 8, 8))
    # nodes: 1 input + stem 4 + block1 (4 + 4) + block2 (6 + 6) + fc 10; the projection
    # shortcut's channels are merged into block2's output channels
    assert g.num_nodes == 1 + 4 + 8 + 12 + 10
    ident = (g.edge_type == IDENTITY).nonzero().view(-1)
    assert ident.numel() == 4  # one edge per channel, not a 4 x 4 block
    assert (g.edge_attr[ident, 4] == 1).all() and g.edge_attr[ident].sum() == 4
    short = g.edge_type == SHORTCUT
    assert int(short.sum()) == 4 * 6
    # the projection's batch norm sits in the shortcut slot of block2's output channels
    outs = g.edge_index[1, short].unique()
    assert torch.allclose(g.x[outs, 5], model.block2.down[1].weight.detach())
    assert torch.allclose(g.x[outs, 1], model.block2.bn2.weight.detach())
    assert int((g.edge_type == WEIGHT).sum()) == 1 * 4 + 16 * 2 + 24 + 36 + 60


@pytest.mark.parametrize("bad,match", [
    (nn.Sequential(nn.Conv2d(2, 4, 3, groups=2)), "0: grouped convolution"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(4 * 36, 2)),
     "2: reads 144 features"),
    (nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3)), "1: LayerNorm layers are not supported"),
])
def test_unsupported_layers_are_named(bad, match):
    shape = (3,) if isinstance(bad[0], nn.Linear) else (2, 8, 8)
    with pytest.raises(UnsupportedLayer, match=match):
        network_to_graph(bad, shape)


def test_convnet_maps_and_learns():
    # the pruning test bed: the round trip holds for it, and it learns the embedded images
    from graphcl.models.convnet import ConvNet
    from graphcl.runner import run_experiment

    model = _randomise(ConvNet((4, 8, 8)))
    g = network_to_graph(model, (1, 28, 28))
    x = torch.randn(3, 1, 28, 28)
    assert torch.allclose(graph_to_network(g, model)(x), model(x))
    res = run_experiment("cnn", "synthetic:images", progress=False,
                         overrides={"channels": [8, 16], "epochs": 8, "val_size": 100})
    assert res["metrics"]["test_acc"]["mean"] > 0.85


def test_cnn_bad_input():
    from graphcl.methods import DatasetKindError
    from graphcl.runner import run_experiment

    with pytest.raises(DatasetKindError, match="needs an image set in MNIST's layout"):
        run_experiment("cnn", "synthetic:graphs", progress=False)
    with pytest.raises(ValueError, match=r"val_size must lie in \(0, 800\)"):
        run_experiment("cnn", "synthetic:images", progress=False, overrides={"val_size": 900})


def test_metanetwork_starts_near_identity_and_is_differentiable_end_to_end():
    # the decoded network's loss reaches the metanetwork's parameters (meta-training)
    from torch.func import functional_call

    from graphcl.models.metanet import MetaNetwork
    from graphcl.nn.netgraph import graph_parameters

    torch.manual_seed(0)
    model = _randomise(ResNet())
    g = network_to_graph(model, (1, 8, 8))
    meta = MetaNetwork(g.x.size(1), g.edge_attr.size(1), hidden=16, num_layers=2, rho=1e-3)
    x_out, e_out = meta(g.x, g.edge_index, g.edge_attr, g.edge_type)
    assert x_out.shape == g.x.shape and e_out.shape == g.edge_attr.shape
    assert (e_out - g.edge_attr).abs().max() < 0.05  # a small residual edit
    params = graph_parameters(g, x_out, e_out)
    inp = torch.randn(5, 1, 8, 8)
    out = functional_call(model, params, (inp,))
    assert torch.allclose(out, model(inp), atol=0.1)
    torch.nn.functional.cross_entropy(out, torch.arange(5)).backward()
    grads = [p.grad for p in meta.parameters()]
    assert all(gr is not None for gr in grads) and any(gr.abs().sum() > 0 for gr in grads)
    # with rho = 0 the metanetwork is the identity map
    meta.rho = 0.0
    x0, e0 = meta(g.x, g.edge_index, g.edge_attr, g.edge_type)
    assert torch.equal(x0, g.x) and torch.equal(e0, g.edge_attr)
