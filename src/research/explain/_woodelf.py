"""Adapter from an XGBoost booster to woodelf's tree objects, with categorical splits and float64.

woodelf 0.4.8 parses XGBoost through treelite, which it refuses for categorical splits,
and its path-dependent matrices are float32. Here the trees come straight from the
booster's JSON dump (numerical and categorical splits, default directions, covers) and
the WOODELF matrices are built in float64, so the values match XGBoost's TreeSHAP to
its own float32 precision. Node tests run on numpy arrays (woodelf only needs
``to_numpy`` and ``~`` on them), which also saves the pandas overhead per node.
"""

from __future__ import annotations

import gc
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


# --- Blocked WOODELF: the same s-vectors, fewer lookups per row, rows split over threads -------
#
# woodelf looks up one s-vector entry per (row, leaf, feature of the leaf's path), indexed
# by the row's decision pattern on that path, and adds it to the row's value of that
# feature: for 300 trees of depth 6 about 190 passes over all rows per tree, which is
# where its time goes. Here the leaves of a subtree ("block") share one table indexed by
# the row's go-left bits on the block's splits (the subtree's splits and their
# ancestors): per feature, an entry holds the sum of the block's leaves' s-vector entries
# for that combination of bits. A row then needs one lookup per (block, feature): blocks
# of 8 leaves need about 80 per tree instead of about 190. A table costs 2**bits entries
# per feature, so each tree's blocks are chosen by comparing the tables' cost with the
# rows' (``_choose_blocks``); with few rows the blocks stay single leaves.
#
# The s-vectors are woodelf's (its M matrices, f from the covers, its two transforms, in
# float64; the same as woodelf without its neighbour-leaf shortcut, which takes a
# parent's cover for the sum of its children's and so drifts by about 1e-8), computed for
# all leaves of one path length at once. The rows are split in chunks, processed by
# ``nthread`` threads (numpy releases the GIL in the heavy calls); every row gets the same
# operations in the same order whatever its chunk or thread, so the values do not depend
# on the number of threads.

_MAX_BITS = 10  # a block's table has at most 2**_MAX_BITS rows per feature
_TABLE_COST = 1.0  # relative cost of one (table row, leaf feature) when building the tables
_ROW_COST = 4.0  # relative cost of one (row, block, feature) lookup
_CHUNK_ROWS = 8192


class _Tree:
    """One XGBoost tree as arrays, with the ancestors, splits, leaves and features of each subtree."""

    def __init__(self, tree: dict) -> None:
        self.left = [int(i) for i in tree["left_children"]]
        self.right = [int(i) for i in tree["right_children"]]
        self.feature = [int(i) for i in tree["split_indices"]]
        # XGBoost keeps split thresholds and leaf weights in split_conditions, as float32.
        self.value = np.asarray(tree["split_conditions"], dtype=np.float32).astype(np.float64)
        self.default_left = [bool(d) for d in tree["default_left"]]
        self.cover = [float(c) for c in tree["sum_hessian"]]
        split_type = tree.get("split_type") or [0] * len(self.left)
        self.categorical = [int(t) == 1 for t in split_type]
        self.right_codes = {
            int(node): np.asarray(tree["categories"][begin : begin + size], dtype=np.int64)
            for node, begin, size in zip(
                tree["categories_nodes"],
                tree["categories_segments"],
                tree["categories_sizes"],
                strict=True,
            )
        }
        n = len(self.left)
        self.ancestors: list[tuple[int, ...]] = [()] * n
        order, stack = [], [0]
        while stack:  # depth first, left before right
            node = stack.pop()
            order.append(node)
            if self.left[node] != -1:
                for child in (self.right[node], self.left[node]):
                    self.ancestors[child] = (*self.ancestors[node], node)
                    stack.append(child)
        self.internal: list[list[int]] = [[] for _ in range(n)]  # splits of the subtree, preorder
        self.leaves: list[list[int]] = [[] for _ in range(n)]
        self.split_features: list[set[int]] = [set() for _ in range(n)]
        for node in reversed(order):
            if self.left[node] == -1:
                self.leaves[node] = [node]
            else:
                left, right = self.left[node], self.right[node]
                self.internal[node] = [node, *self.internal[left], *self.internal[right]]
                self.leaves[node] = [*self.leaves[left], *self.leaves[right]]
                self.split_features[node] = {
                    self.feature[node],
                    *self.split_features[left],
                    *self.split_features[right],
                }
        self.leaf_order = self.leaves[0]

    def is_leaf(self, node: int) -> bool:
        return self.left[node] == -1

    def path(self, leaf: int) -> list[tuple[int, bool]]:
        """The splits from the root to ``leaf``, each with whether the path goes left there."""
        chain = [*self.ancestors[leaf], leaf]
        return [(a, self.left[a] == b) for a, b in zip(chain[:-1], chain[1:], strict=True)]


def _trees(booster) -> list[_Tree]:
    """The trees of a single-output booster, from its JSON dump."""
    learner = json.loads(booster.save_raw("json"))["learner"]
    if int(learner["learner_model_param"].get("num_class", "0")) > 1:
        raise ValueError(
            "woodelf path supports single-output boosters only; use explain.method: native"
        )
    return [_Tree(t) for t in learner["gradient_booster"]["model"]["trees"]]


class _Leaf:
    """A leaf's path as woodelf reads it: unique features (pattern bits, MSB first), covers."""

    def __init__(self, tree: _Tree, leaf: int) -> None:
        self.path = tree.path(leaf)
        self.features: list[int] = []
        for node, _ in self.path:
            if tree.feature[node] not in self.features:
                self.features.append(tree.feature[node])
        k = len(self.features)
        # For each split of the path, the pattern bit of its feature (woodelf's unique-feature
        # decision pattern: a feature's bit is 1 when the row follows all its splits).
        self.bit = [k - 1 - self.features.index(tree.feature[node]) for node, _ in self.path]
        self.covers = [1.0] * k  # woodelf's get_covers_vector
        chain = [node for node, _ in self.path] + [leaf]
        for parent, child in zip(chain[:-1], chain[1:], strict=True):
            self.covers[self.features.index(tree.feature[parent])] *= (
                tree.cover[child] / tree.cover[parent]
            )
        self.weight = float(tree.value[leaf])
        self.values: np.ndarray = np.zeros(0)  # (k, 2**depth): see _leaf_values


def _s_tables(covers: np.ndarray, weights: np.ndarray, calculator) -> np.ndarray:
    """woodelf's path-dependent s-vectors of many leaves with ``k`` unique features, in float64.

    ``covers`` is (leaves, k), ``weights`` (leaves,). Returns (leaves, 2**k, k): entry
    [leaf, pattern, j] is what woodelf adds to unique feature j for a row with that
    decision pattern: ``Float64PathToSVectors``' arithmetic, leaf by leaf.
    """
    m, k = covers.shape
    size = 2**k
    idx = np.arange(size)
    f = np.ones((m, size), dtype=np.float64)
    for i in range(k):  # Formula 9: bit (k - 1 - i) of the pattern is unique feature i
        proceed = covers[:, i : i + 1]
        f = f * np.where((idx >> (k - 1 - i)) & 1, proceed, 1 - proceed)
    for d in range(k - 1, -1, -1):  # _prepare_f: sums over supersets
        view = f.reshape(m, size >> (d + 1), 2, 1 << d)
        view[:, :, 0, :] += view[:, :, 1, :]
    order = np.argsort(calculator.matrices_frs_subsets[k])  # columns as unique features 0..k-1
    matrix = calculator.matrices[k][:, order]
    s = matrix[None, :, :] * f[:, ::-1, None]
    for d in range(k):  # sums over subsets
        view = s.reshape(m, size >> (d + 1), 2, 1 << d, k)
        view[:, :, 1] += view[:, :, 0]
    return s * weights[:, None, None]


def _leaf_values(leaves: list[_Leaf], calculator) -> None:
    """Each leaf's s-entries by its splits' go-left bits: ``values[j, u]``, bit s of u for split s."""
    groups: dict[tuple[int, int], list[_Leaf]] = {}
    for leaf in leaves:
        groups.setdefault((len(leaf.path), len(leaf.features)), []).append(leaf)
    for (depth, k), members in groups.items():
        s = _s_tables(
            np.array([leaf.covers for leaf in members], dtype=np.float64),
            np.array([leaf.weight for leaf in members], dtype=np.float64),
            calculator,
        )
        u = np.arange(2**depth)[:, None]
        go_left = (u >> np.arange(depth)) & 1  # (2**depth, depth)
        went_left = np.array([[w for _, w in leaf.path] for leaf in members], dtype=np.int64)
        bit = np.array([leaf.bit for leaf in members], dtype=np.int64)
        failed = np.bitwise_or.reduce(
            (go_left[None, :, :] != went_left[:, None, :]).astype(np.int64) << bit[:, None, :],
            axis=2,
        )  # (leaves, 2**depth): pattern bits of the features whose splits the row leaves
        pattern = ((1 << k) - 1) & ~failed
        values = np.take_along_axis(s, pattern[:, :, None], axis=1)  # (leaves, 2**depth, k)
        values = np.ascontiguousarray(values.transpose(0, 2, 1))
        for leaf, value in zip(members, values, strict=True):
            leaf.values = value


class _TreePlan:
    """The row-side arrays of one tree: its splits, how they make each block's table row, the tables."""

    def __init__(self) -> None:
        # Chunk-matrix row and threshold of each split: go left when row < threshold.
        self.node_rows = np.zeros(0, dtype=np.intp)
        self.thresholds = np.zeros((0, 1), dtype=np.float32)
        # (blocks, splits): 2**p where the split gives bit p of the block's table row, else 0.
        self.weights = np.zeros((0, 0), dtype=np.float32)
        # Per block, its table (features x 2**bits) and its features.
        self.blocks: list[tuple[np.ndarray, np.ndarray]] = []


class BlockedPathDependentShap:
    """Exact path-dependent SHAP values (log-odds) of a single-output XGBoost booster.

    ``n_rows`` tunes the block sizes (tables against lookups); the values do not depend
    on it beyond float rounding (about 1e-16), nor on ``nthread`` at all.
    """

    def __init__(self, booster, n_features: int, n_rows: int) -> None:
        # Parsing makes many small objects; the cyclic collector would rescan them (~30%).
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._build(booster, n_features, n_rows)
        finally:
            if collecting:
                gc.enable()

    def _build(self, booster, n_features: int, n_rows: int) -> None:
        from woodelf.core.cube_metric import ShapleyValues

        trees = _trees(booster)
        self.n_features = n_features
        # Categorical splits get their own rows of the chunk matrix: (row, feature, codes
        # sent right, missing sent left).
        self.categorical: list[tuple[int, int, np.ndarray, bool]] = []
        leaves = [
            {leaf: _Leaf(tree, leaf) for leaf in tree.leaf_order if not tree.is_leaf(0)}
            for tree in trees
        ]
        every_leaf = [leaf for per_tree in leaves for leaf in per_tree.values()]
        max_k = max((len(leaf.features) for leaf in every_leaf), default=1)
        _leaf_values(every_leaf, Float64PathToSVectors(ShapleyValues(), max_depth=max_k))
        self.plans = [
            self._plan_tree(tree, per_tree, _choose_blocks(tree, per_tree, n_rows))
            for tree, per_tree in zip(trees, leaves, strict=True)
        ]
        self.n_matrix_rows = 2 * n_features + len(self.categorical)
        # Per categorical feature, its splits' rows and a lookup: code -> 0 (left) or 1 (right).
        self.category_lookups: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for feature in sorted({c[1] for c in self.categorical}):
            splits = [c for c in self.categorical if c[1] == feature]
            size = 1 + max((int(codes.max()) for _, _, codes, _ in splits if len(codes)), default=0)
            lookup = np.zeros((len(splits), size + 2), dtype=np.float32)
            for i, (_, _, codes, default_left) in enumerate(splits):
                lookup[i, codes] = 1.0  # the listed codes go right, any other code left
                lookup[i, size + 1] = 0.0 if default_left else 1.0
            rows = np.asarray([2 * n_features + c[0] for c in splits], dtype=np.intp)
            self.category_lookups[feature] = (rows, lookup)

    def _split_row(self, tree: _Tree, node: int) -> tuple[int, float]:
        """The chunk-matrix row and threshold of a split: go left when ``row < threshold``."""
        feature = tree.feature[node]
        if tree.categorical[node]:
            codes = tree.right_codes.get(node, np.zeros(0, dtype=np.int64))
            self.categorical.append(
                (len(self.categorical), feature, codes, tree.default_left[node])
            )
            return 2 * self.n_features + len(self.categorical) - 1, 0.5
        # Missing values read -inf in the first copy of the features, +inf in the second.
        row = feature if tree.default_left[node] else self.n_features + feature
        return row, float(tree.value[node])

    def _plan_tree(self, tree: _Tree, leaves: dict[int, _Leaf], blocks: list[int]) -> _TreePlan:
        plan = _TreePlan()
        splits = tree.internal[0]
        if not splits or not blocks:
            return plan
        split_index = {n: i for i, n in enumerate(splits)}
        rows, thresholds = zip(*(self._split_row(tree, n) for n in splits), strict=True)
        plan.node_rows = np.asarray(rows, dtype=np.intp)
        plan.thresholds = np.asarray(thresholds, dtype=np.float32)[:, None]
        plan.weights = np.zeros((len(blocks), len(splits)), dtype=np.float32)
        for b, root in enumerate(blocks):
            nodes = [*tree.ancestors[root], *tree.internal[root]]
            for p, node in enumerate(nodes):
                plan.weights[b, split_index[node]] = 2.0**p
            features = np.asarray(sorted({tree.feature[n] for n in nodes}), dtype=np.intp)
            plan.blocks.append((_block_table(tree, root, nodes, leaves), features))
        return plan

    def chunk_matrix(self, x: np.ndarray) -> np.ndarray:
        """Rows (features twice, then categorical splits) x chunk rows, as the splits compare them.

        float32 is exact here: the inputs are float32-rounded and so are XGBoost's
        thresholds. Missing values read -inf in the first copy (for splits that send them
        left) and +inf in the second; a categorical split's row is 0 (left) or 1 (right).
        """
        n, f = x.shape
        matrix = np.empty((self.n_matrix_rows, n), dtype=np.float32)
        xt = x.T
        missing = np.isnan(xt)
        for half, fill in enumerate((-np.inf, np.inf)):
            part = matrix[half * f : (half + 1) * f]
            part[...] = xt
            part[missing] = fill
        for feature, (rows, lookup) in self.category_lookups.items():
            column = xt[feature]
            size = lookup.shape[1] - 2  # codes 0..size-1; size: any other code; size + 1: missing
            code = np.where(np.isnan(column), size + 1, np.minimum(column, size)).astype(np.intp)
            matrix[rows] = np.take(lookup, code, axis=1)
        return matrix

    def chunk_values(self, x: np.ndarray) -> np.ndarray:
        """SHAP values (features x rows) of a chunk of rows (rows x features, float64)."""
        matrix = self.chunk_matrix(x)
        out = np.zeros((self.n_features, len(x)), dtype=np.float64)
        go_left = np.empty(
            (max((len(p.node_rows) for p in self.plans), default=0), len(x)), np.float32
        )
        for plan in self.plans:
            if not plan.blocks:
                continue
            bits = np.less(
                matrix[plan.node_rows], plan.thresholds, out=go_left[: len(plan.node_rows)]
            )
            # Each block's table row: a sum of distinct powers of two below 2**_MAX_BITS, exact.
            rows = (plan.weights @ bits).astype(np.intp)
            for (table, features), row in zip(plan.blocks, rows, strict=True):
                out[features] += np.take(table, row, axis=1)
        return out

    def values(self, x: np.ndarray, *, nthread: int = 1) -> np.ndarray:
        """SHAP values (rows x features) of ``x`` (rows x features, float64, NaN missing).

        The rows go in chunks to ``nthread`` threads; the result does not depend on it.
        """
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        n = len(x)
        result = np.zeros((n, self.n_features), dtype=np.float64)
        starts = range(0, n, _CHUNK_ROWS)

        def run(start: int) -> None:
            stop = min(start + _CHUNK_ROWS, n)
            result[start:stop] = self.chunk_values(x[start:stop]).T

        # One BLAS thread per worker: the products are small and the workers are the threads.
        with threadpool_limits(limits=1, user_api="blas"):
            if nthread <= 1 or len(starts) <= 1:
                for start in starts:
                    run(start)
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=nthread) as pool:
                    list(pool.map(run, starts))
        return result


def _choose_blocks(tree: _Tree, leaves: dict[int, _Leaf], n_rows: int) -> list[int]:
    """Roots of the subtrees that get one table each: the cheapest total of tables and lookups."""
    return _best_blocks(tree, leaves, n_rows, 0)[1]


def _best_blocks(
    tree: _Tree, leaves: dict[int, _Leaf], n_rows: int, node: int
) -> tuple[float, list[int]]:
    bits = len(tree.ancestors[node]) + len(tree.internal[node])
    own = None
    if bits <= _MAX_BITS or tree.is_leaf(node):
        features = {tree.feature[a] for a in tree.ancestors[node]} | tree.split_features[node]
        work = sum(len(leaves[leaf].features) for leaf in tree.leaves[node] if leaf in leaves)
        own = _TABLE_COST * 2**bits * work + _ROW_COST * n_rows * len(features)
    if tree.is_leaf(node):
        return (own or 0.0), [node] if node in leaves else []
    left = _best_blocks(tree, leaves, n_rows, tree.left[node])
    right = _best_blocks(tree, leaves, n_rows, tree.right[node])
    if own is not None and own <= left[0] + right[0]:
        return own, [node]
    return left[0] + right[0], [*left[1], *right[1]]


def _block_table(tree: _Tree, root: int, nodes: list[int], leaves: dict[int, _Leaf]) -> np.ndarray:
    """The block's table, (features x 2**bits): per go-left bits, its leaves' s-entries summed.

    Bit ``p`` of a table row is the go-left bit of ``nodes[p]``; the features are sorted.
    A leaf's entries depend on its own splits' bits only and are broadcast over the others.
    """
    bits = len(nodes)
    position = {n: p for p, n in enumerate(nodes)}
    features = sorted({tree.feature[n] for n in nodes})
    column = {f: c for c, f in enumerate(features)}
    table = np.zeros((len(features),) + (2,) * bits, dtype=np.float64)
    for leaf in tree.leaves[root]:
        if leaf not in leaves:
            continue
        info = leaves[leaf]
        shape = [len(info.features)] + [1] * bits
        for node, _ in info.path:  # axis 1 + (bits - 1 - p) is bit p of the table row
            shape[bits - position[node]] = 2
        # values[j, u], bit s of u for split s: reshaped, axis 1 is the path's last split.
        table[[column[f] for f in info.features]] += info.values.reshape(shape)
    return table.reshape(len(features), 2**bits)
