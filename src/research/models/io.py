"""The model folder ``models/<name>/``: the scoring model as files, and back.

``model.ubj`` (the booster), ``features.json`` (ordered inputs, categorical levels,
monotone constraints), ``calibrator.json``, ``challenger.json``, and ``master_scale.json``
(a graded model) or ``deciles.json``. The MLflow run is recorded outside the folder
(``research.paths.run_file``: ``runs/<name>.json``), so the folder's bytes are the model's alone. JSON floats are written at full precision, so a reload scores identically.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import xgboost as xgb

from research.models.calibration import Calibrator, DecileScale, MasterScale
from research.models.challenger import Challenger
from research.models.scoring import ScoringModel
from research.models.train import FeatureLayout

BOOSTER, FEATURES, CALIBRATOR, CHALLENGER, MASTER_SCALE, DECILES = (
    "model.ubj",
    "features.json",
    "calibrator.json",
    "challenger.json",
    "master_scale.json",
    "deciles.json",
)


def _write_json(path: Path, content: dict[str, Any]) -> None:
    path.write_text(json.dumps(content, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def save_scoring_model(model: ScoringModel, folder: Path) -> list[Path]:
    """Write the model's files into ``folder`` (created; stale grading files removed); return them."""
    folder.mkdir(parents=True, exist_ok=True)
    model.booster.save_model(folder / BOOSTER)
    _write_json(folder / FEATURES, model.layout.to_dict())
    _write_json(folder / CALIBRATOR, model.calibrator.to_dict())
    _write_json(folder / CHALLENGER, model.challenger.to_dict())
    for name in (MASTER_SCALE, DECILES):
        (folder / name).unlink(missing_ok=True)
    if model.master_scale is not None:
        _write_json(folder / MASTER_SCALE, model.master_scale.to_dict())
    else:
        assert model.deciles is not None, "a scoring model has a master scale or deciles"
        _write_json(folder / DECILES, model.deciles.to_dict())
    names = [
        BOOSTER,
        FEATURES,
        CALIBRATOR,
        CHALLENGER,
        MASTER_SCALE if model.master_scale else DECILES,
    ]
    return [folder / n for n in names]


def load_scoring_model(folder: Path, *, booster: xgb.Booster | None = None) -> ScoringModel:
    """Read a model folder (``booster`` replaces ``model.ubj``, e.g. the one MLflow loads)."""
    if booster is None:
        booster = xgb.Booster()
        booster.load_model(folder / BOOSTER)
    scale = _read_json(folder / MASTER_SCALE) if (folder / MASTER_SCALE).exists() else None
    deciles = _read_json(folder / DECILES) if (folder / DECILES).exists() else None
    return ScoringModel(
        layout=FeatureLayout.from_dict(_read_json(folder / FEATURES)),
        booster=booster,
        calibrator=Calibrator.from_dict(_read_json(folder / CALIBRATOR)),
        challenger=Challenger.from_dict(_read_json(folder / CHALLENGER)),
        master_scale=MasterScale(tuple(scale["names"]), tuple(scale["upper_pd"]))
        if scale
        else None,
        deciles=DecileScale(tuple(deciles["cuts_margin"])) if deciles else None,
    )


def content_hash(folder: Path) -> str:
    """SHA-256 of what decides the scores: the booster file, the calibrator and the grading."""
    digest = hashlib.sha256()
    for name in (BOOSTER, CALIBRATOR, FEATURES, MASTER_SCALE, DECILES):
        path = folder / name
        if path.exists():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
