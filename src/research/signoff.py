"""Sign-off: a reviewer approves or rejects a model version on its validation pack, on record in git.

``research signoff <model> --reviewer <id> --decision approve|reject --note "..."`` appends
one JSON line to ``signoffs/<model>.jsonl`` at the project root. The folder is kept in git
(never ignored, never a DVC output): the record is committed with the code, and the reports
read it (the validation report's conclusion, the model card and the front page).

Each record ties the decision to what was judged:

- the registry model version and the training run, from the run file the train stage
  writes (``research.paths.run_file``: ``model_name``, ``model_version``, ``run_id``);
- ``pack_sha256``, a SHA-256 of the validation pack (``pack_hash``): the validate stage's
  headline figures and light counts (``metrics/<model>_validation.json``) and its whole
  record (``metrics/diagnostics/<model>/validation.json``), each read as JSON and
  re-serialised canonically (indentation does not matter), and its checks table
  (``plots/<model>/checks.csv``: every figure, threshold, light and reason, as bytes); the
  record and the table when the stage wrote them. All are deterministic DVC outputs, so the
  same validation gives the same hash on every run and machine; the HTML report is not
  hashed (it names the run and the build date).

The reviewer is a pseudonymous id, checked as the registry's promotion checks it
(``research.registry.check_reviewer``). ``status`` compares the latest record with the
current version and pack: "signed off version 3; current version is 4: not signed off".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DECISIONS",
    "SignOff",
    "SignOffError",
    "SignOffStatus",
    "checks_path",
    "latest",
    "pack_hash",
    "pack_hash_of",
    "read",
    "record",
    "signoff_path",
    "status",
]

from research.paths import diagnostics_path, metrics_path, run_file
from research.registry import Refused, check_reviewer
from research.reporting.model_card import checks_path

DECISIONS = ("approve", "reject")
SIGNOFF_DIR = "signoffs"


class SignOffError(Refused):
    """A sign-off that cannot be recorded; the message says why and what to do."""


def signoff_dir(root: Path) -> Path:
    """``signoffs/`` at the project root (kept in git)."""
    return Path(root) / SIGNOFF_DIR


def signoff_path(root: Path, model: str) -> Path:
    """``signoffs/<model>.jsonl``: one JSON object a line, oldest first."""
    return signoff_dir(root) / f"{model}.jsonl"


def pack_files(root: Path, model: str) -> list[Path]:
    """The validation pack's files that ``pack_hash_of`` covers: headline, record (if any), checks (if any)."""
    files = [metrics_path(root, f"{model}_validation")]
    files += [
        path
        for path in (diagnostics_path(root, model, "validation.json"), checks_path(root, model))
        if path.is_file()
    ]
    return files


def canonical_json(content: Any) -> bytes:
    """``content`` as compact JSON with sorted keys: the same bytes whatever the file's layout."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def pack_hash(
    summary: Mapping[str, Any],
    checks_csv: bytes | None = None,
    record: Mapping[str, Any] | None = None,
) -> str:
    """SHA-256 of a validation pack: its headline (canonical JSON), record and checks table's bytes."""
    digest = hashlib.sha256()
    digest.update(b"validation-metrics\n" + canonical_json(summary) + b"\n")
    if record is not None:
        digest.update(b"validation-record\n" + canonical_json(record) + b"\n")
    if checks_csv is not None:
        digest.update(b"checks\n" + checks_csv)
    return digest.hexdigest()


def pack_hash_of(root: Path, model: str) -> str | None:
    """The hash of the pack the validate stage left under ``root``; None before it ran."""

    def load(path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))

    try:
        summary = load(metrics_path(root, f"{model}_validation"))
        record_path = diagnostics_path(root, model, "validation.json")
        record = load(record_path) if record_path.is_file() else None
    except (OSError, ValueError):
        return None
    if not isinstance(summary, Mapping) or summary.get("enabled") is False:
        return None
    checks = checks_path(root, model)
    return pack_hash(summary, checks.read_bytes() if checks.is_file() else None, record)


@dataclasses.dataclass(frozen=True)
class SignOff:
    """One record of ``signoffs/<model>.jsonl``."""

    model: str
    model_name: str
    model_version: str
    run_id: str
    pack_sha256: str
    reviewer: str
    decision: str
    note: str
    signed_at: str

    def to_json(self) -> str:
        """The record as one line of JSON (keys in field order)."""
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_mapping(cls, record: Mapping[str, Any]) -> SignOff:
        fields = [f.name for f in dataclasses.fields(cls)]
        missing = [f for f in fields if f not in record]
        if missing:
            raise ValueError(f"a sign-off record lacks {', '.join(missing)}")
        return cls(**{f: str(record[f]) for f in fields})

    def line(self) -> str:
        """One line saying what was decided."""
        verb = "approved" if self.decision == "approve" else "rejected"
        return (
            f"{self.model}: version {self.model_version} of {self.model_name} {verb} by "
            f"{self.reviewer} at {self.signed_at} (pack {self.pack_sha256[:12]})"
        )


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _read_run(root: Path, model: str) -> dict[str, Any]:
    path = run_file(root, model)
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SignOffError(
            f"model {model!r} has no training run ({path.relative_to(root)} is missing): "
            f"run `dvc repro` (or `research stage train --model {model}`) first"
        ) from None
    except (OSError, ValueError) as err:
        raise SignOffError(f"cannot read {path}: {err}") from None
    return run


def record(
    root: Path,
    model: str,
    *,
    reviewer: str,
    decision: str,
    note: str,
    now: str | None = None,
) -> SignOff:
    """Append a sign-off of ``model``'s current version and validation pack; return the record.

    Refused (``SignOffError``) when the reviewer id is not pseudonymous, the decision is
    not approve or reject, the note is empty, the model has no registered version, or its
    validation pack is missing (train and validate first).
    """
    if not (reviewer or "").strip():
        raise SignOffError(
            "name the reviewer: --reviewer <reviewer id> (a pseudonymous id such as u12345)"
        )
    try:
        reviewer = check_reviewer(reviewer)
    except Refused as err:
        raise SignOffError(str(err)) from None
    if decision not in DECISIONS:
        raise SignOffError(f"--decision must be approve or reject, got {decision!r}")
    if not (note or "").strip():
        raise SignOffError('say why: --note "..." (kept with the decision)')
    run = _read_run(root, model)
    version = str(run.get("model_version") or "")
    if not version:
        raise SignOffError(
            f"model {model!r}'s last training registered no version (run "
            f"{run.get('run_id', '?')}): nothing to sign off"
        )
    pack = pack_hash_of(root, model)
    if pack is None:
        raise SignOffError(
            f"model {model!r} has no validation pack "
            f"({metrics_path(root, f'{model}_validation').relative_to(root)}): run the validate "
            f"stage first (`dvc repro validate@{model}`)"
        )
    entry = SignOff(
        model=model,
        model_name=str(run.get("model_name", "")),
        model_version=version,
        run_id=str(run.get("run_id", "")),
        pack_sha256=pack,
        reviewer=reviewer,
        decision=decision,
        note=" ".join(note.split()),
        signed_at=now or _utc_now(),
    )
    path = signoff_path(root, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(entry.to_json() + "\n")
    return entry


def read(root: Path, model: str) -> list[SignOff]:
    """Every sign-off of ``model``, oldest first ([] when there is none).

    A line that is not a record stops with its line number (the file is edited by hand
    only to resolve a merge: keep both sides' lines).
    """
    path = signoff_path(root, model)
    if not path.is_file():
        return []
    records = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            records.append(SignOff.from_mapping(json.loads(text)))
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}:{number}: not a sign-off record ({err})") from None
    return records


def latest(root: Path, model: str) -> SignOff | None:
    """The most recent sign-off of ``model`` (by time, the file's order breaking ties)."""
    records = read(root, model)
    if not records:
        return None
    return max(enumerate(records), key=lambda item: (item[1].signed_at, item[0]))[1]


@dataclasses.dataclass(frozen=True)
class SignOffStatus:
    """The latest sign-off against the current version and validation pack."""

    model: str
    latest: SignOff | None
    current_version: str
    current_pack: str | None

    @property
    def version_matches(self) -> bool:
        return self.latest is not None and self.latest.model_version == self.current_version

    @property
    def pack_matches(self) -> bool:
        return self.latest is not None and self.latest.pack_sha256 == self.current_pack

    @property
    def approved(self) -> bool:
        """The current version and pack are signed off with ``approve``."""
        return (
            self.latest is not None
            and self.latest.decision == "approve"
            and self.version_matches
            and self.pack_matches
        )

    @property
    def light(self) -> str:
        """green: approved as it is; red: the current version was rejected; amber: not signed off."""
        if self.approved:
            return "green"
        if (
            self.latest is not None
            and self.latest.decision == "reject"
            and self.version_matches
            and self.pack_matches
        ):
            return "red"
        return "amber"

    def line(self) -> str:
        """The sign-off in one sentence, saying what differs."""
        current = self.current_version or "none"
        if self.latest is None:
            return f"not signed off: no sign-off recorded (current version {current})"
        s = self.latest
        done = "approved" if s.decision == "approve" else "rejected"
        head = f"signed off version {s.model_version} ({done} by {s.reviewer}, {s.signed_at[:10]})"
        if not self.version_matches:
            return f"{head}; current version is {current}: not signed off"
        if not self.pack_matches:
            return (
                f"{head}; the validation pack changed since (hash {s.pack_sha256[:12]} signed, "
                f"{(self.current_pack or 'none')[:12]} now): not signed off"
            )
        return f"{head}; current version and validation pack: {'signed off' if s.decision == 'approve' else 'rejected'}"


def status(
    root: Path,
    model: str,
    *,
    current_version: str | None = None,
    current_pack: str | None = None,
) -> SignOffStatus:
    """The latest sign-off of ``model`` against its current version and pack.

    Either defaults to what is on disk: the run file's ``model_version`` and the hash of
    the validation pack the validate stage left (``pack_hash_of``).
    """
    if current_version is None:
        try:
            run = json.loads(run_file(root, model).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            run = {}
        current_version = str(run.get("model_version") or "")
    if current_pack is None:
        current_pack = pack_hash_of(root, model)
    return SignOffStatus(
        model=model,
        latest=latest(root, model),
        current_version=current_version,
        current_pack=current_pack,
    )
