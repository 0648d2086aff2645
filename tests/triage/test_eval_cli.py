"""`firstline eval triage`: train on one labelled file, score another, one JSON object."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.cli import main
from core.settings import get_settings

ROWS = {
    "Printing": [
        ("Printer jams", "Paper stuck in tray 2 on every page"),
        ("Printer offline", "The 3rd floor printer shows offline"),
        ("Toner low", "Toner low warning on the reception printer"),
        ("Faded prints", "Prints come out faded and grey"),
        ("Cannot print", "Printing to the FollowMe queue fails"),
        ("Printer noise", "The printer makes a grinding noise"),
        ("Badge on printer", "My badge is not accepted at the printer"),
        ("Printer jams A3", "The printer jams on A3 paper"),
        ("Scan to email", "The printer cannot scan to email"),
        ("Printer driver", "Printer driver missing after update"),
        ("Printer queue stuck", "Print jobs stay in the printer queue"),
        ("Wrong printer tray", "The printer takes paper from the wrong tray"),
    ],
    "VPN": [
        ("VPN drops", "The VPN disconnects every hour"),
        ("VPN certificate", "Certificate error when the VPN connects"),
        ("VPN slow", "VPN really slow when working from home"),
        ("VPN MFA", "The VPN MFA prompt never comes"),
        ("VPN hotel", "Cannot connect to the VPN from the hotel"),
        ("VPN gateway", "GlobalProtect VPN cannot reach the gateway"),
        ("VPN stuck", "VPN stuck on connecting"),
        ("VPN after update", "VPN tunnel drops since the update"),
        ("VPN lost phone", "Lost phone, cannot approve the VPN login"),
        ("VPN split tunnel", "Teams calls break while on the VPN"),
        ("VPN password", "VPN says my password is wrong"),
        ("VPN error 12", "VPN client shows error 12"),
    ],
    "Email": [
        ("Mailbox full", "My mailbox is full and email cannot be sent"),
        ("Email bounces", "Email to a supplier bounces back"),
        ("Outlook password", "Outlook keeps asking for my email password"),
        ("Shared mailbox", "Shared mailbox missing in Outlook"),
        ("Email stuck", "Email stuck in the Outlook outbox"),
        ("Phishing email", "Suspicious phishing email about a parcel"),
        ("Outlook search", "Outlook search does not find old email"),
        ("Email signature", "Email signature disappeared in Outlook"),
        ("Out of office", "Cannot set the email out of office reply"),
        ("Calendar invite", "Email invites go to the wrong calendar"),
        ("Email on phone", "Email stopped syncing on my phone"),
        ("Email attachment", "Email attachment too large to send"),
    ],
}
TEST_ROWS = [
    {"title": "Printer jammed", "description": "Paper jam in the printer tray", "cat": "Printing"},
    {
        "title": "VPN keeps dropping",
        "description": "The VPN disconnects all the time",
        "cat": "VPN",
    },
    {"title": "Mailbox is full", "description": "Cannot send email, mailbox full", "cat": "Email"},
    {"title": "No label here", "description": "Printer and VPN and email", "cat": ""},
    {
        "title": "Outlook",
        "description": "Outlook asks for the email password again",
        "cat": "Email",
    },
]
KEYS = {"n", "accuracy", "macro_f1", "weighted_f1", "coverage", "accuracy_when_confident", "ece"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("FIRSTLINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FIRSTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIRSTLINE_MODEL__KIND", "hashing")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    train = tmp_path / "train.csv"
    with open(train, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "description", "cat"])
        for label, rows in ROWS.items():
            for title, description in rows:
                w.writerow([title, description, label])
        w.writerow(["Coffee machine leaks", "Water on the kitchen floor", "Facilities"])
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in TEST_ROWS), encoding="utf-8")
    return train, test


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["firstline", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    code = exit_.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def test_eval_triage_prints_metrics_and_writes_predictions(
    env: None,
    files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    train, test = files
    predictions = tmp_path / "P.jsonl"
    args = ["eval", "triage", str(train), str(test), "--text", "title", "--text", "description"]
    code, out, err = run(
        monkeypatch, capsys, *args, "--label", "cat", "--predictions", str(predictions)
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert set(result) >= KEYS
    assert result["n"] == 4  # labelled test rows
    assert result["accuracy"] == 1.0
    assert result["macro_f1"] == 1.0
    assert 0.0 <= result["coverage"] <= 1.0
    assert 0.0 <= result["ece"] <= 1.0

    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(rows) == len(TEST_ROWS)
    assert [r["label"] for r in rows[:3]] == ["Printing", "VPN", "Email"]
    assert rows[4]["label"] == "Email"
    for r in rows:
        assert set(r) == {"label", "confidence", "abstained", "top"}
        assert r["top"][0] == [r["label"], r["confidence"]]
        assert len(r["top"]) == 3
        assert isinstance(r["abstained"], bool)
        assert r["abstained"] == (r["confidence"] < result["threshold"])


def test_eval_triage_is_reproducible(
    env: None,
    files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    train, test = files
    args = ["eval", "triage", str(train), str(test), "--text", "description", "--label", "cat"]
    first = run(monkeypatch, capsys, *args, "--predictions", str(tmp_path / "1.jsonl"))
    second = run(monkeypatch, capsys, *args, "--predictions", str(tmp_path / "2.jsonl"))
    assert first[0] == 0, first[2]
    assert first[1] == second[1]
    assert (tmp_path / "1.jsonl").read_text() == (tmp_path / "2.jsonl").read_text()


@pytest.mark.parametrize(
    ("text", "label", "missing"), [("summary", "cat", "summary"), ("title", "group", "group")]
)
def test_missing_column_is_one_error_line(
    env: None,
    files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    label: str,
    missing: str,
) -> None:
    train, test = files
    code, out, err = run(
        monkeypatch,
        capsys,
        "eval",
        "triage",
        str(train),
        str(test),
        "--text",
        text,
        "--label",
        label,
    )
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert f"no column(s) {missing}" in lines[0]
    assert "train.csv" in lines[0]
