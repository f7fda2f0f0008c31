"""Adapter from an XGBoost booster to woodelf's tree objects, with categorical splits and float64.

woodelf 0.4.8 parses XGBoost through treelite, which it refuses for categorical splits,
and its path-dependent matrices are float32. Here the trees come straight from the
booster's JSON dump (numerical and categorical splits, default directions, covers) and
the WOODELF matrices are built in float64, so the values match XGBoost's TreeSHAP to
its own float32 precision. Node tests run on numpy arrays (woodelf only needs
``to_numpy`` and ``~`` on them), which also saves the pandas overhead per node.
"""

from __future__ import annotations

import json

import numpy as np
from woodelf.core.path_to_s_vectors.woodelf_p2s import HighDepthWoodelfPathToSVectors
from woodelf.core.trees.decision_trees_ensemble import DecisionTreeNode, DecisionTreesEnsemble


class _Mask(np.ndarray):
    """A boolean array that also answers ``to_numpy`` (what woodelf calls on a split's result)."""

    def to_numpy(self) -> np.ndarray:
        return self.view(np.ndarray)


class NumericSplit(DecisionTreeNode):
    """XGBoost's numerical split: left when ``x < threshold``; missing follows the default."""

    def shall_go_left(self, data, GPU: bool = False):
        x = data[self.feature_name].to_numpy()
        left = ~(x >= self.value) if self.nan_go_left else x < self.value
        return left.view(_Mask)


class CategoricalSplit(DecisionTreeNode):
    """XGBoost's categorical split: the listed category codes go right, the others left."""

    def __init__(self, *args, right_codes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.right_codes = np.asarray(sorted(right_codes), dtype=np.float64)

    def shall_go_left(self, data, GPU: bool = False):
        x = data[self.feature_name].to_numpy()
        missing = np.isnan(x)
        left = ~np.isin(x, self.right_codes) & ~missing
        if self.nan_go_left:
            left |= missing
        return left.view(_Mask)


class Float64PathToSVectors(HighDepthWoodelfPathToSVectors):
    """woodelf's high-depth path-dependent calculator with float64 matrices and frequencies."""

    def _build_matrices(self) -> None:
        for depth in range(self.max_depth + 1):
            table = self.map_patterns_to_cube(list(range(depth)))
            matrices = self.build_patterns_to_values_sparse_matrix(
                table, self.metric, path_length=depth
            )
            self.matrices_frs_subsets[depth] = list(matrices)
            self.matrices[depth] = np.array(
                [matrices[k] for k in self.matrices_frs_subsets[depth]], dtype=np.float64
            ).T

    @staticmethod
    def compute_f_from_covers(covers: np.ndarray) -> np.ndarray:
        depth = len(covers)
        f = np.ones(2**depth, dtype=np.float64)
        for i, proceed in enumerate(covers):
            half = 2**depth // 2 ** (i + 1)
            f = f * np.tile(np.array([1 - proceed] * half + [proceed] * half), 2**i)
        return f


def ensemble_from_booster(booster, feature_names: list[str]) -> DecisionTreesEnsemble:
    """woodelf trees of a binary (single-output) XGBoost booster."""
    model = json.loads(booster.save_raw("json"))
    learner = model["learner"]
    if int(learner["learner_model_param"].get("num_class", "0")) > 1:
        raise ValueError(
            "woodelf path supports single-output boosters only; use explain.method: native"
        )
    trees = learner["gradient_booster"]["model"]["trees"]
    return DecisionTreesEnsemble([_tree(t, feature_names) for t in trees])


def _tree(tree: dict, names: list[str]) -> DecisionTreeNode:
    left, right = tree["left_children"], tree["right_children"]
    categories = {
        node: tree["categories"][begin : begin + size]
        for node, begin, size in zip(
            tree["categories_nodes"],
            tree["categories_segments"],
            tree["categories_sizes"],
            strict=True,
        )
    }
    split_types = tree.get("split_type") or [0] * len(left)
    nodes = {}
    for i in range(len(left)):
        common = {
            "right": None,
            "left": None,
            "index": i,
            "nan_go_left": bool(tree["default_left"][i]),
            "cover": float(tree["sum_hessian"][i]),
        }
        # XGBoost keeps split thresholds and leaf weights in split_conditions, as float32.
        value = float(np.float32(tree["split_conditions"][i]))
        if left[i] == -1:
            nodes[i] = DecisionTreeNode(feature_name=None, value=value, **common)
        elif split_types[i] == 1:
            nodes[i] = CategoricalSplit(
                feature_name=names[tree["split_indices"][i]],
                value=0.0,
                right_codes=categories[i],
                **common,
            )
        else:
            nodes[i] = NumericSplit(
                feature_name=names[tree["split_indices"][i]], value=value, **common
            )
    for i in range(len(left)):
        if left[i] != -1:
            nodes[i].left, nodes[i].right = nodes[left[i]], nodes[right[i]]
            nodes[left[i]].parent = nodes[right[i]].parent = nodes[i]
    root = nodes[0]
    root.depth = root.get_depth()
    return root
