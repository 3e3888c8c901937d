import pytest
import torch

from graphcl.data.synthetic import temporal_sbm_stream
from graphcl.models.tgn import TGN
from graphcl.train.engine import Engine
from graphcl.train.pres import PRES, TransitionGMM
from graphcl.train.temporal import TemporalLinkTask

pytestmark = pytest.mark.usefixtures("one_thread")


def _train_epoch(model, data, mask, opt, batch_size, pres):
    r"""One training epoch of TGN's protocol on the events of ``mask`` (engine update step)."""
    from types import SimpleNamespace

    none = torch.zeros_like(mask)
    split = SimpleNamespace(train_mask=mask, val_mask=~mask, new_node_val_mask=none,
                            test_mask=~mask, new_node_test_mask=none)
    task = TemporalLinkTask(data, split, batch_size=batch_size, seed=0)
    eng = Engine(torch.nn.ModuleDict({"tgn": model, "pres": pres}), opt, progress=False)
    eng.experience = task
    eng.model.train()
    task.on_epoch_start(eng)
    for batch in task.train_batches(eng):
        eng.training_step(task, batch)


def _mixture_stream(num_nodes=40, dim=4, steps=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(num_nodes, dim, generator=g)
    direction = direction / direction.norm(dim=-1, keepdim=True)
    centre = torch.randn(num_nodes, dim, generator=g)
    means = torch.stack([centre + 2 * direction, centre - 2 * direction], 1)  # 4 apart
    weights = torch.tensor([0.7, 0.3])
    std = 0.5
    xs = []
    for _ in range(steps):
        comp = (torch.rand(num_nodes, generator=g) > weights[0]).long()
        xs.append(means[torch.arange(num_nodes), comp]
                  + std * torch.randn(num_nodes, dim, generator=g))
    return means, weights, std, xs


def test_gmm_recovers_known_mixture():
    means, weights, std, xs = _mixture_stream()
    n, d = means.shape[0], means.shape[2]
    gmm = TransitionGMM(n, d, var_floor=1e-3)
    nodes = torch.arange(n)
    for x in xs:  # one observation per node per step, only the observed nodes are touched
        gmm.observe(nodes, x)
    w, mu, var = gmm.params(nodes)
    order = w.argsort(1, descending=True)
    w = w.gather(1, order)
    mu = mu.gather(1, order.unsqueeze(-1).expand(-1, -1, d))
    var = var.gather(1, order.unsqueeze(-1).expand(-1, -1, d))
    mean_err = (mu - means).norm(dim=-1).max(1).values
    assert (w - weights).abs().max(1).values.median() < 0.05
    assert mean_err.median() < 0.2
    assert (mean_err < 0.5).float().mean() >= 0.9
    assert (var.mean(-1) - std**2).abs().median() < 0.05
    # prediction = mean of the heaviest component
    pred, has = gmm.predict(nodes)
    assert has.all()
    assert (pred - means[:, 0]).norm(dim=-1).median() < 0.2


def test_batched_loglik_equals_direct_form():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 7, 3, generator=g, dtype=torch.float64)
    mean = torch.randn(5, 2, 3, generator=g, dtype=torch.float64)
    var = torch.rand(5, 2, 3, generator=g, dtype=torch.float64) + 0.1
    w = torch.softmax(torch.randn(5, 2, generator=g, dtype=torch.float64), -1)
    gmm = TransitionGMM(5, 3)
    direct = gmm._loglik(x.unsqueeze(2), w.unsqueeze(1), mean.unsqueeze(1), var.unsqueeze(1))
    fast = TransitionGMM._loglik_bmm(x, x.pow(2), w, mean, var)
    assert torch.allclose(direct, fast, atol=1e-10)


def test_gmm_only_observed_nodes_change_and_state_round_trip():
    gmm = TransitionGMM(5, 3, init_size=2)
    gmm.observe(torch.tensor([1, 3]), torch.ones(2, 3))
    assert gmm.count.tolist() == [0, 1, 0, 1, 0]
    pred, has = gmm.predict(torch.arange(5))
    assert has.tolist() == [False, True, False, True, False]
    assert torch.equal(pred[1], torch.ones(3))  # before the EM init: mean of the buffer
    gmm.observe(torch.tensor([1]), 3 * torch.ones(1, 3))
    clone = TransitionGMM(5, 3, init_size=2)
    clone.load_state_dict(gmm.state_dict())
    assert torch.equal(clone.predict(torch.arange(5))[0], gmm.predict(torch.arange(5))[0])
    gmm.reset_state()
    assert gmm.count.sum() == 0 and gmm.s1.abs().sum() == 0
    with pytest.raises(ValueError, match="shape"):
        gmm.observe(torch.tensor([0]), torch.ones(1, 4))


def test_predict_observe_equals_predict_then_observe():
    # the fused step (one read and one write per statistic) is the two public steps in order,
    # through the buffering, the batch-EM initialisation and the stepwise EM, with decay
    _, _, _, xs = _mixture_stream(num_nodes=12, dim=3, steps=40, seed=3)
    a = TransitionGMM(12, 3, init_size=4, decay=0.95)
    b = TransitionGMM(12, 3, init_size=4, decay=0.95)
    g = torch.Generator().manual_seed(0)
    for x in xs:
        nodes = torch.randperm(12, generator=g)[:7].sort().values
        mask = torch.rand(7, generator=g) > 0.3
        pred_a, has_a = a.predict(nodes, "mean")
        a.observe(nodes[mask], x[nodes][mask])
        pred_b, has_b, count = b.predict_observe(nodes, x[nodes], mask, "mean")
        assert torch.equal(pred_a, pred_b) and torch.equal(has_a, has_b)
        assert torch.equal(count + mask.long(), b.count[nodes])
    assert a.count.max() > 4  # the stepwise EM was reached
    for k, v in a.state_dict().items():
        assert torch.allclose(v.float(), b.state_dict()[k].float(), atol=1e-6), k


def test_gamma_zero_skips_the_predictor_but_keeps_the_coherence_term():
    n_id = torch.tensor([0, 1])
    s_prev = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    s_cmp = torch.tensor([[1.0, 1.0], [1.0, 1.0]], requires_grad=True)
    pres = PRES(2, 2, gamma=0.0, beta=0.5)
    for _ in range(3):
        out = pres(n_id, s_prev, s_cmp, torch.ones(2, dtype=torch.bool), n_id)
        assert out is s_cmp
    assert pres.gmm.count.numel() == 0  # nothing to predict: no statistics are allocated
    assert pres.loss().requires_grad
    assert PRES(2, 2, gamma=0.0, learnable_gamma=True).gmm.count.numel() == 2  # gamma may grow


def test_pres_fusion_only_on_batch_nodes_with_pending_messages():
    pres = PRES(6, 2, gamma=0.25, coherence="none", min_history=1)
    pres.gmm.observe(torch.tensor([0, 1, 2]), torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))
    n_id = torch.tensor([0, 1, 2, 4])
    s_prev = torch.ones(4, 2)
    s_cmp = torch.full((4, 2), 8.0)
    pending = torch.tensor([True, True, False, True])
    batch_nodes = torch.tensor([0, 2, 4])  # node 1 is only a neighbour
    out = pres(n_id, s_prev, s_cmp, pending, batch_nodes)
    # node 0: 0.25 * (1 + 1) + 0.75 * 8; node 1 untouched (not in batch); node 2 has no pending
    # message; node 4 has no transition statistics yet.
    assert out[:, 0].tolist() == [0.5 + 6.0, 8.0, 8.0, 8.0]
    # the observed transition of the corrected nodes is added after the prediction
    assert pres.gmm.count.tolist() == [2, 1, 1, 0, 1, 0]
    # transitions out of an all-zero memory are not observed; min_history gates correction
    pres2 = PRES(3, 2, min_history=2)
    pres2.gmm.observe(torch.tensor([0]), torch.ones(1, 2))
    out2 = pres2(torch.tensor([0, 1]), torch.zeros(2, 2), torch.ones(2, 2),
                 torch.ones(2, dtype=torch.bool), torch.tensor([0, 1]))
    assert torch.equal(out2, torch.ones(2, 2)) and pres2.gmm.count.tolist() == [1, 0, 0]


def test_pending_event_counts_are_strictly_older_batch_events_of_the_node():
    src, dst = torch.tensor([0, 1, 0, 2]), torch.tensor([5, 5, 6, 5])
    t = torch.tensor([1, 2, 2, 3])
    nodes = torch.tensor([0, 0, 5, 5, 6, 2, 3])
    t_q = torch.tensor([1, 2, 2, 3, 3, 3, 3])
    _, _, count = TGN._older_in_batch(nodes, t_q, src, dst, t)
    # 0@1: none older; 0@2: e0; 5@2: e0; 5@3: e0, e1 (e3 is at t=3); 6@3: e2; 2@3: e3 is not
    # older; 3 never appears.
    assert count.tolist() == [0, 1, 1, 2, 1, 0, 0]


def test_intra_scope_corrects_only_queries_with_pending_events():
    pres = PRES(6, 2, gamma=0.5, scope="intra", coherence="none", min_history=1)
    pres.gmm.observe(torch.tensor([3]), torch.tensor([[0.2, -0.4]]))
    nodes, pending = torch.tensor([3, 3, 4, 3]), torch.tensor([0, 2, 1, 5])
    h = torch.ones(4, 2)
    delta = pres.adjust_queries(nodes, pending, h)
    # one predicted transition (weight gamma) whatever the count; node 4 has no statistics
    assert torch.allclose(delta, torch.tensor([[0.0, 0.0], [0.1, -0.2], [0.0, 0.0], [0.1, -0.2]]))
    # the memory hook of the intra scope observes transitions but corrects nothing itself
    n_id, prev = torch.tensor([3, 4]), torch.ones(2, 2)
    out = pres(n_id, prev, prev + 1, torch.ones(2, dtype=torch.bool), n_id)
    assert torch.equal(out, prev + 1) and pres.gmm.count.tolist() == [0, 0, 0, 2, 1, 0]
    assert PRES(6, 2, gamma=0.5).adjust_queries(nodes, pending, h) is None  # batch scope
    assert PRES(6, 2, gamma=0.0, scope="intra").adjust_queries(nodes, pending, h) is None
    pres.eval()
    pres.in_eval = False
    assert pres.adjust_queries(nodes, pending, h) is None
    with pytest.raises(ValueError, match="scope"):
        PRES(6, 2, scope="everything")
    from graphcl.methods import ConfigError, get_method

    with pytest.raises(ConfigError, match="query_time=event"):
        get_method("pres").configure({}, (), {"pres.scope": "intra", "query_time": "first"})


def test_intra_scope_trains_and_never_leaks_the_batch_into_its_own_scores():
    data = temporal_sbm_stream(num_nodes=30, num_events=800, seed=2)
    model = TGN(data.num_nodes, data.msg.size(1), memory_dim=8, time_dim=4, embedding_dim=8,
                query_time="event", batch_neighbors=True)
    pres = PRES(data.num_nodes, 8, gamma=0.5, scope="intra", min_history=1)
    mask = torch.zeros(data.num_events, dtype=torch.bool)
    mask[:600] = True
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    _train_epoch(model, data, mask, opt, 100, pres)
    assert pres.gmm.count.sum() > 0
    model.eval()
    pres.eval()
    sl = slice(600, 700)
    src, dst, t, msg = data.src[sl], data.dst[sl], data.t[sl], data.msg[sl]
    backup = pres.state_backup()
    with torch.no_grad():
        plain = model(src, dst, t, msg=msg)[0]
        pos = model(src, dst, t, msg=msg, memory_hook=pres)[0]
        pres.state_restore(backup)
        assert not torch.allclose(plain, pos)  # some queries had pending events
        i = 40
        dst2, t2, msg2 = dst.clone(), t.clone(), msg.clone()
        dst2[i + 1:] = torch.randint(data.num_nodes, (99 - i,))
        t2[i + 1:] = t2[i + 1:] + 1
        msg2[i:] = 1e3
        pos2 = model(src, dst2, t2, msg=msg2, memory_hook=pres)[0]
        pres.state_restore(backup)
    assert torch.allclose(pos2[: i + 1], pos[: i + 1])


def test_coherence_gradient_modes():
    n_id = torch.tensor([0, 1])
    s_prev = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    s_cmp = torch.tensor([[1.0, 1.0], [1.0, 1.0]], requires_grad=True)
    for mode, has_grad in (("grad", True), ("detached", False)):
        pres = PRES(2, 2, beta=0.5, coherence=mode)
        pres(n_id, s_prev, s_cmp, torch.ones(2, dtype=torch.bool), n_id)
        loss = pres.loss()
        assert loss.item() == pytest.approx(0.5 * (1 - 2**-0.5))
        assert loss.requires_grad is has_grad
    pres = PRES(2, 2, coherence_form="dimension")
    pres(n_id, s_prev, s_cmp, torch.ones(2, dtype=torch.bool), n_id)
    assert pres.loss() is not None
    with pytest.raises(ValueError, match="gamma"):
        PRES(2, 2, gamma=1.5)
    with pytest.raises(ValueError, match="coherence"):
        PRES(2, 2, coherence="maybe")


def test_pres_trains_memory_through_coherence_and_resets_each_epoch():
    data = temporal_sbm_stream(num_nodes=30, num_events=800, seed=2)
    model = TGN(data.num_nodes, data.msg.size(1), memory_dim=8, time_dim=4, embedding_dim=8)
    pres = PRES(data.num_nodes, 8, gamma=0.5)
    mask = torch.zeros(data.num_events, dtype=torch.bool)
    mask[:600] = True
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    _train_epoch(model, data, mask, opt, 100, pres)
    counts = pres.gmm.count.clone()
    assert counts.sum() > 0
    _train_epoch(model, data, mask, opt, 100, pres)
    assert torch.equal(pres.gmm.count, counts)  # reset with the memory at every epoch
    # leakage: scoring with PRES writes nothing but the (backed-up) GMM statistics
    model.eval()
    pres.eval()
    backup = pres.state_backup()
    with torch.no_grad():
        a = model(data.src[600:700], data.dst[600:700], data.t[600:700], memory_hook=pres)[0]
        pres.state_restore(backup)
        b = model(data.src[600:700], data.dst[600:700], data.t[600:700], memory_hook=pres)[0]
    assert torch.equal(a, b)


def test_run_pres_end_to_end():
    data = temporal_sbm_stream(num_nodes=40, num_events=2000, seed=1)
    cfg = {"memory_dim": 16, "time_dim": 8, "embedding_dim": 16, "epochs": 2,
           "batch_size": 400, "eval_batch_size": 100, "mrr_num_neg": 10, "lr": 3e-3,
           "pres": {"gamma": 0.5, "beta": 0.1}}
    from graphcl.methods import get_method
    from graphcl.runner import run_seed

    m = get_method("pres")
    out = run_seed(m, data, m.configure({}, (), cfg), 0, progress=False)["metrics"]
    assert 0.0 <= out["test_ap"] <= 1.0 and 0.0 <= out["test_ind_mrr"] <= 1.0
    out2 = run_seed(m, data, m.configure({}, (), cfg), 0, progress=False)["metrics"]
    assert out2 == out  # deterministic given the seed


def test_cli_pres_on_real_collegemsg(data_root, tmp_path, capsys, monkeypatch):
    # the real UCI stream through `graphcl run pres` (3,000 training events, one epoch, the
    # intra-batch scope): it learns, records the config it ran, and drops its resume state
    # once the seed is in the results
    import json

    from graphcl.cli import main

    monkeypatch.setenv("GRAPHCL_DATA", str(data_root))
    out = tmp_path / "pres_uci.json"
    rc = main(["run", "pres", "--dataset", "collegemsg", "--set", "max_train_events=3000",
               "epochs=1", "mrr_num_neg=10", "eval_batch_size=1000", "pres.gamma=0.5",
               "pres.scope=intra", "--out", str(out)])
    assert rc == 0, capsys.readouterr().out
    res = json.loads(out.read_text())
    assert res["config"]["pres"]["scope"] == "intra" and res["config"]["pres"]["gamma"] == 0.5
    assert res["config"]["pres"]["beta"] == 0.1  # the zoo's other PRES keys are kept
    assert res["metrics"]["test_ap"]["mean"] > 0.65  # chance is 0.5
    assert 0.0 < res["metrics"]["test_mrr"]["mean"] <= 1.0
    assert not list(tmp_path.glob("*.state.pt"))
