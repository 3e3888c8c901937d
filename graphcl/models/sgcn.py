r"""A static signed GNN baseline for signed temporal tasks: PyG's
:class:`~torch_geometric.nn.models.SignedGCN` (Derr et al., ICDM 2018) over the training
period's signed graph, behind the state-model interface of
:class:`~graphcl.train.signed.SignedTemporalTask`.

The graph is fixed: the training events (both directions, so a node that only rates others
still has neighbours), positive and negative edges apart. Input features are SGCN's spectral
features of that graph (a truncated SVD of the symmetric signed adjacency, seeded). Every batch
reads the same node embeddings; events streamed after training change nothing (a static model
never sees the validation or test graph). The task's head and loss are the ones SEMBA and TGN
use, so the three differ only in the encoder (PyG's own balance-theory loss is not used).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.nn.models import SignedGCN
from torch_geometric.utils import coalesce

__all__ = ["StaticSignedGCN", "spectral_features"]


def spectral_features(pos: Tensor, neg: Tensor, num_nodes: int, dim: int, *,
                      seed: int = 0, n_iter: int = 20) -> Tensor:
    r"""SGCN's spectral node features: the top-``dim`` right singular vectors of the symmetric
    signed adjacency (:math:`+1` positive, :math:`-1` negative, a pair with both signs cancels)
    of ``pos`` and ``neg`` ``[2, E]``, from a seeded randomised SVD. Returns ``[N, dim]``."""
    import scipy.sparse as sp
    from sklearn.decomposition import TruncatedSVD

    if dim >= num_nodes:
        raise ValueError(f"spectral_features: dim ({dim}) must be below num_nodes ({num_nodes})")
    ei = torch.cat([pos, neg], 1)
    val = torch.cat([torch.ones(pos.size(1)), -torch.ones(neg.size(1))])
    ei = torch.cat([ei, ei.flip(0)], 1)
    ei, val = coalesce(ei, torch.cat([val, val]), num_nodes=num_nodes)
    adj = sp.coo_matrix((val.clamp(-1, 1).numpy(), ei.numpy()), shape=(num_nodes, num_nodes))
    svd = TruncatedSVD(n_components=dim, n_iter=n_iter, random_state=np.random.RandomState(seed))
    svd.fit(adj.tocsr())
    return torch.from_numpy(np.ascontiguousarray(svd.components_.T)).float()


class StaticSignedGCN(nn.Module):
    r"""SignedGCN embeddings of a fixed signed graph, as a state model
    (``embed(nodes, t) -> (z, None)``; the temporal hooks do nothing).

    Args:
        num_nodes (int): Number of nodes.
        src, dst, sign (Tensor): the graph's (training) events ``[E]``; ``sign`` :math:`\pm 1`.
        in_channels (int, optional): Spectral feature width. (default: :obj:`64`)
        hidden_channels (int, optional): Embedding width. (default: :obj:`64`)
        num_layers (int, optional): Signed convolutions. (default: :obj:`2`)
        seed (int, optional): Seed of the spectral features' SVD. (default: :obj:`0`)
    """

    def __init__(self, num_nodes: int, src: Tensor, dst: Tensor, sign: Tensor, *,
                 in_channels: int = 64, hidden_channels: int = 64, num_layers: int = 2,
                 seed: int = 0) -> None:
        super().__init__()
        if hidden_channels < 2 or hidden_channels % 2:
            raise ValueError(f"StaticSignedGCN: hidden_channels must be even and >= 2, got "
                             f"{hidden_channels}")
        if num_layers < 1:
            raise ValueError(f"StaticSignedGCN: num_layers must be >= 1, got {num_layers}")
        if src.numel() == 0:
            raise ValueError("StaticSignedGCN: the graph has no edges")
        ei = torch.stack([src.long(), dst.long()])
        ei = torch.cat([ei, ei.flip(0)], 1)
        sgn = torch.cat([sign, sign])
        pos = coalesce(ei[:, sgn > 0], num_nodes=num_nodes)
        neg = coalesce(ei[:, sgn < 0], num_nodes=num_nodes)
        in_channels = min(in_channels, num_nodes - 1)
        self.num_nodes, self.out_channels = num_nodes, hidden_channels
        self.register_buffer("pos_edge_index", pos)
        self.register_buffer("neg_edge_index", neg)
        self.register_buffer("x", spectral_features(pos, neg, num_nodes, in_channels,
                                                    seed=seed))
        self.gcn = SignedGCN(in_channels, hidden_channels, num_layers)

    def reset_parameters(self) -> None:
        self.gcn.reset_parameters()

    def embed(self, nodes: Tensor, t: Tensor) -> tuple[Tensor, None]:
        z = self.gcn(self.x, self.pos_edge_index, self.neg_edge_index)
        return z[nodes], None

    # The temporal hooks of the state-model interface: a static model keeps no state.
    def reset_state(self) -> None:
        pass

    def detach(self) -> None:
        pass

    def update_state(self, src: Tensor, dst: Tensor, t: Tensor, msg: Tensor, *,
                     ctx: Any = None, e_id: Tensor | None = None) -> None:
        pass

    def transient_state_names(self) -> set[str]:
        return set()

    def state_backup(self) -> dict[str, Tensor]:
        return {}

    def state_restore(self, backup: dict[str, Tensor]) -> None:
        pass

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(num_nodes={self.num_nodes}, "
                f"pos_edges={self.pos_edge_index.size(1)}, "
                f"neg_edges={self.neg_edge_index.size(1)}, out_channels={self.out_channels})")
