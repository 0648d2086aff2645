"""``firstline demo`` as a user runs and stops it: Ctrl-C (SIGINT) or ``kill`` (SIGTERM) stops
the console (a Streamlit child process) and the API, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.demo import demo_keys
from tests.api.test_cli import FIRSTLINE
from tests.conftest import copy_data, free_port, group_running, stop_process


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory, trained_demo: Path) -> Path:
    """A data dir as the demo leaves it (data ingested, triage trained, keys made), with the
    hashing encoder, so each `firstline demo` below only starts its servers (it skips what is
    done: the data is unchanged, the model trained)."""
    data_dir = tmp_path_factory.mktemp("demo")
    demo_keys(copy_data(trained_demo, data_dir))
    return data_dir


def _children(pid: int) -> dict[int, str]:
    """The running child processes of ``pid``: their command lines by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def running_demo(demo_data: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str, str]]:
    """`firstline demo` on free ports, up to the point where its console answers; yields the
    process, the API's and the console's health URLs.  Whatever is left is killed after."""
    port, ui_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env |= {
        "FIRSTLINE_DATA_DIR": str(demo_data),
        "FIRSTLINE_MODEL__KIND": "hashing",
    }
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(FIRSTLINE), "demo", "--port", str(port), "--ui-port", str(ui_port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: what it leaves is found and killed
        )
    api = f"http://127.0.0.1:{port}/health"
    ui = f"http://127.0.0.1:{ui_port}/_stcore/health"
    try:
        deadline = time.monotonic() + 120
        while not (_answers(ui) and _answers(api)):
            assert proc.poll() is None, f"the demo stopped:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no console after 120 s:\n{log.read_text()}"
            time.sleep(0.3)
        yield proc, api, ui
    finally:
        stop_process(proc)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_demo_stops_its_console_and_api(
    running_demo: tuple[subprocess.Popen, str, str], sig: signal.Signals
) -> None:
    proc, api, ui = running_demo
    children = _children(proc.pid)
    assert any("streamlit" in cmd for cmd in children.values()), children
    proc.send_signal(sig)  # to the demo alone, as `kill` does (not to its process group)
    assert proc.wait(timeout=30) == 0
    assert not _answers(ui) and not _answers(api)
    assert [pid for pid in children if _alive(pid)] == []  # no orphaned console
    assert not group_running(proc.pid)
