r"""The shared data pipeline: readers per format, the dataset-card registry, static and
temporal splits, negative samplers and synthetic generators.

Flow: card → :func:`load` / :func:`read` → :class:`~torch_geometric.data.Data` or
:class:`~torch_geometric.data.TemporalData` → split → sampler → model. Nothing here imports
from :mod:`graphcl.models` or :mod:`graphcl.train`.
"""

from graphcl.data.edgelist import read_edgelist
from graphcl.data.errors import DataFormatError
from graphcl.data.negative import TemporalNegativeSampler, fixed_eval_negatives
from graphcl.data.npz import read_npz
from graphcl.data.readers import (
    LinkPropDataset,
    read,
    read_idx,
    read_jodie,
    read_ml,
    read_ogb_linkprop,
    read_planetoid,
    read_snap_signed,
    read_snap_temporal,
    read_tu,
)
from graphcl.data.registry import (
    DatasetCard,
    data_root,
    get_card,
    list_cards,
    load,
    resolve_dataset,
    verify,
)
from graphcl.data.split import (
    LinkSplit,
    ogb_link_split,
    planetoid_ncnc_split,
    random_link_split,
    sample_train_negatives,
)
from graphcl.data.synthetic import (
    attributed_sbm,
    graphon_graphs,
    signed_temporal_stream,
    temporal_sbm_stream,
)
from graphcl.data.temporal import TemporalSplit, chronological_split

__all__ = [
    "DataFormatError",
    "DatasetCard",
    "LinkPropDataset",
    "LinkSplit",
    "TemporalNegativeSampler",
    "TemporalSplit",
    "attributed_sbm",
    "chronological_split",
    "data_root",
    "fixed_eval_negatives",
    "get_card",
    "graphon_graphs",
    "list_cards",
    "load",
    "ogb_link_split",
    "planetoid_ncnc_split",
    "random_link_split",
    "read",
    "read_idx",
    "read_jodie",
    "read_ml",
    "read_ogb_linkprop",
    "read_planetoid",
    "read_snap_signed",
    "read_snap_temporal",
    "read_tu",
    "read_npz",
    "read_edgelist",
    "resolve_dataset",
    "sample_train_negatives",
    "signed_temporal_stream",
    "temporal_sbm_stream",
    "verify",
]
