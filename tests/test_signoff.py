"""Sign-off: the record in signoffs/<model>.jsonl, its tie to the version and pack, and the round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from research import signoff
from research.cli import main
from research.paths import diagnostics_path, metrics_path, run_file

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = {
    "discrimination": {"oot": {"auc": 0.8066, "gini": 0.6133, "n": 7050, "events": 209}},
    "lights": {"green": 144, "amber": 8, "red": 2, "grey": 3},
}
CHECKS = "area,check,subject,value,threshold,light,reason\nstability,CSI,x,0.3,t,red,r\n"
WHEN = "2026-01-02T03:04:05+00:00"


def _train(root: Path, version: str, run_id: str = "run-a") -> None:
    path = run_file(root, "credit")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "run_id": run_id,
                "model_name": "credit_pd",
                "model_version": version,
                "experiment_id": "1",
            }
        )
    )


def _validate(root: Path, summary: dict, checks: str | None = CHECKS) -> None:
    path = metrics_path(root, "credit_validation")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")
    if checks is not None:
        signoff.checks_path(root, "credit").parent.mkdir(parents=True, exist_ok=True)
        signoff.checks_path(root, "credit").write_text(checks)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    _train(tmp_path, "3")
    _validate(tmp_path, SUMMARY)
    return tmp_path


def test_sign_off_retrain_and_the_status_says_the_version_differs(project):
    done = signoff.record(
        project, "credit", reviewer="u123", decision="approve", note="CSI red explained", now=WHEN
    )
    assert done.model_version == "3" and done.run_id == "run-a" and done.model_name == "credit_pd"
    assert done.pack_sha256 == signoff.pack_hash_of(project, "credit")
    lines = signoff.signoff_path(project, "credit").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["reviewer"] == "u123"
    assert signoff.signoff_path(project, "credit") == project / "signoffs" / "credit.jsonl"

    status = signoff.status(project, "credit")
    assert status.approved and status.light == "green"
    assert status.line() == (
        "signed off version 3 (approved by u123, 2026-01-02); current version and validation "
        "pack: signed off"
    )

    _train(project, "4", run_id="run-b")  # retrained with a changed param: a new version
    _validate(project, {**SUMMARY, "lights": {"green": 150, "amber": 4, "red": 0, "grey": 3}})
    status = signoff.status(project, "credit")
    assert not status.approved and status.light == "amber"
    assert status.line() == (
        "signed off version 3 (approved by u123, 2026-01-02); current version is 4: not signed off"
    )

    signoff.record(
        project,
        "credit",
        reviewer="u456",
        decision="reject",
        note="no",
        now="2026-01-03T09:00:00+00:00",
    )
    assert [r.reviewer for r in signoff.read(project, "credit")] == ["u123", "u456"]
    latest = signoff.status(project, "credit")
    assert latest.latest is not None and latest.latest.reviewer == "u456"
    assert latest.light == "red" and latest.line().endswith(
        "current version and validation pack: rejected"
    )


def test_a_changed_pack_under_the_same_version_is_not_signed_off(project):
    signoff.record(project, "credit", reviewer="u123", decision="approve", note="ok", now=WHEN)
    _validate(project, SUMMARY, checks=CHECKS.replace("0.3", "0.31"))
    status = signoff.status(project, "credit")
    assert status.version_matches and not status.pack_matches and not status.approved
    assert "the validation pack changed since" in status.line()


def test_the_pack_hash_is_of_the_content_not_the_layout(project):
    before = signoff.pack_hash_of(project, "credit")
    metrics_path(project, "credit_validation").write_text(json.dumps(SUMMARY, indent=None))
    assert signoff.pack_hash_of(project, "credit") == before
    assert signoff.pack_hash(SUMMARY, CHECKS.encode()) == before
    assert signoff.pack_hash(SUMMARY) != before  # the checks table is part of the pack
    changed = {**SUMMARY, "lights": {**SUMMARY["lights"], "red": 3}}
    assert signoff.pack_hash(changed, CHECKS.encode()) != before


def test_the_validate_stage_record_is_part_of_the_pack(project):
    before = signoff.pack_hash_of(project, "credit")
    record = diagnostics_path(project, "credit", "validation.json")
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({**SUMMARY, "segments": {"min_auc": 0.7}}))
    with_record = signoff.pack_hash_of(project, "credit")
    assert with_record != before
    record.write_text(json.dumps({**SUMMARY, "segments": {"min_auc": 0.71}}))
    assert signoff.pack_hash_of(project, "credit") not in (before, with_record)
    assert record in signoff.pack_files(project, "credit")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reviewer": ""}, "name the reviewer: --reviewer"),
        ({"reviewer": "Jane Doe"}, "not a pseudonymous reviewer id"),
        ({"reviewer": "jane@bank.example"}, "not a pseudonymous reviewer id"),
        ({"decision": "maybe"}, "approve or reject"),
        ({"note": "  "}, "say why"),
    ],
)
def test_bad_sign_offs_are_refused_and_nothing_is_written(project, kwargs, message):
    args = {"reviewer": "u123", "decision": "approve", "note": "ok"} | kwargs
    with pytest.raises(signoff.SignOffError, match=message):
        signoff.record(project, "credit", **args)
    assert not signoff.signoff_path(project, "credit").exists()


def test_no_sign_off_before_training_and_validation(tmp_path):
    with pytest.raises(signoff.SignOffError, match="no training run"):
        signoff.record(tmp_path, "credit", reviewer="u1", decision="approve", note="x")
    _train(tmp_path, "")
    with pytest.raises(signoff.SignOffError, match="registered no version"):
        signoff.record(tmp_path, "credit", reviewer="u1", decision="approve", note="x")
    _train(tmp_path, "2")
    with pytest.raises(signoff.SignOffError, match="no validation pack"):
        signoff.record(tmp_path, "credit", reviewer="u1", decision="approve", note="x")
    assert signoff.status(tmp_path, "credit").line() == (
        "not signed off: no sign-off recorded (current version 2)"
    )


def test_a_damaged_record_names_its_line(project):
    signoff.record(project, "credit", reviewer="u123", decision="approve", note="ok", now=WHEN)
    with open(signoff.signoff_path(project, "credit"), "a") as fh:
        fh.write("<<<<<<< HEAD\n")
    with pytest.raises(ValueError, match=r"credit.jsonl:2: not a sign-off record"):
        signoff.read(project, "credit")


def test_the_signoff_command_appends_a_record(project, monkeypatch, capsys):
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, project / name)
    monkeypatch.chdir(project)
    monkeypatch.delenv("RESEARCH_ROOT", raising=False)
    code = main(
        ["signoff", "credit", "--reviewer", "u123", "--decision", "approve", "--note", "fine"]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "version 3 of credit_pd approved by u123" in out.out
    assert "signoffs/credit.jsonl" in out.out
    assert len(signoff.read(project, "credit")) == 1

    code = main(["signoff", "nomodel", "--reviewer", "u1", "--decision", "approve", "--note", "x"])
    assert code == 1 and "nomodel" in capsys.readouterr().err
    code = main(
        ["signoff", "credit", "--reviewer", "Jane Doe", "--decision", "approve", "--note", "x"]
    )
    assert code == 1 and "pseudonymous" in capsys.readouterr().err
    assert len(signoff.read(project, "credit")) == 1
