"""Rerunning as a reader would (``make lab``): JupyterLab serves the MyST chapters as notebooks and runs them.

One JupyterLab server, started by ``make lab`` itself (headless, so no browser is opened) on a free loopback port
with a token, with ``LLMGEOM_MODEL`` set as "Run it on your model" tells a reader to. Through its
REST and websocket APIs: a chapter comes back as a notebook, a kernel runs the chapter's first cell (its settings)
and sees the reader's model; then headless Chromium opens the chapter in Lab, which must show a notebook, and saves
a screenshot beside the site's. The downloaded ``.ipynb`` copy is executed from another folder by
``tests/test_determinism.py`` (it needs the built site's download).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from browser import SCREENSHOTS, run_chromium

from llmgeom.publish.lab import VIEWERS, lab_command, overrides_path, port_in_use, write_overrides

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "05_lasso_attention"  # its first cell holds the settings and reads LLMGEOM_MODEL
TOKEN = uuid.uuid4().hex
READER_MODEL = "/a/readers/own/model"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """``make lab`` itself, on a free port, headless; yields the server's address once it answers."""
    port = free_port()
    env = {**os.environ, "LLMGEOM_MODEL": READER_MODEL, "JUPYTER_RUNTIME_DIR": str(tmp_path_factory.mktemp("runtime")),
           "JUPYTER_TOKEN": TOKEN, "DISPLAY": "", "WAYLAND_DISPLAY": ""}
    log = tmp_path_factory.mktemp("lab") / "make-lab.log"
    with open(log, "w") as out:
        server = subprocess.Popen(["make", "-s", "lab", f"LAB_PORT={port}"], cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"make lab did not start JupyterLab: {log.read_text()[-2000:]}")
                time.sleep(0.3)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def api(base: str, path: str, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{base}{path}{'&' if '?' in path else '?'}token={TOKEN}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def first_code_cell(chapter: str) -> str:
    text = (ROOT / "notebooks" / f"{chapter}.md").read_text(encoding="utf-8")
    return re.search(r"```\{code-cell\} ipython3\n(.*?)```", text, flags=re.S).group(1)


def test_make_lab_makes_notebooks_the_default_viewer_for_markdown_chapters(lab):
    settings = json.loads(overrides_path().read_text())
    assert settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"] == VIEWERS


def test_a_chapter_comes_back_as_a_notebook(lab):
    model = api(lab, f"/api/contents/notebooks/{CHAPTER}.md?type=notebook&content=1")
    assert model["type"] == "notebook"
    cells = model["content"]["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert len(code) > 5 and any(c["cell_type"] == "markdown" for c in cells)
    assert "".join(code[0]["source"]).strip() == first_code_cell(CHAPTER).strip()


async def execute(base: str, kernel_id: str, code: str) -> tuple[str, str]:
    """Run ``code`` in a kernel through the server's websocket; return (status, everything printed)."""
    from tornado.websocket import websocket_connect

    socket_ = await websocket_connect(f"{base.replace('http', 'ws')}/api/kernels/{kernel_id}/channels?token={TOKEN}")
    msg_id = uuid.uuid4().hex
    socket_.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": "reader", "session": uuid.uuid4().hex, "msg_type": "execute_request",
                   "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    printed, status = [], None
    while status is None:
        message = json.loads(await asyncio.wait_for(socket_.read_message(), timeout=120))
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])
        elif message["msg_type"] == "error":
            printed.append("\n".join(message["content"]["traceback"]))
        elif message["msg_type"] == "execute_reply":
            status = message["content"]["status"]
    socket_.close()
    return status, "".join(printed)


def test_a_kernel_runs_the_settings_cell_and_sees_the_readers_model(lab):
    session = api(lab, "/api/sessions", "POST", {"path": f"notebooks/{CHAPTER}.md", "type": "notebook",
                                                   "name": f"{CHAPTER}.md", "kernel": {"name": "python3"}})
    try:
        status, printed = asyncio.run(execute(lab, session["kernel"]["id"], first_code_cell(CHAPTER)
                                              + "\nimport os\nprint(MODELS[0], N_TEXTS, os.getcwd())"))
        assert status == "ok", printed
        model, n_texts, cwd = printed.split()
        assert model == READER_MODEL and int(n_texts) > 0
        assert Path(cwd) == ROOT / "notebooks", "the kernel does not run in the chapter's folder"
    finally:
        api(lab, f"/api/sessions/{session['id']}", "DELETE")


def test_the_chapter_opens_as_a_notebook_in_the_browser(lab, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"lab-{CHAPTER}.png"
    shot.unlink(missing_ok=True)
    dumped = run_chromium(["--dump-dom", f"--screenshot={shot}", "--window-size=1280,900",
                           f"{lab}/lab/tree/notebooks/{CHAPTER}.md?token={TOKEN}"], tmp_path)
    assert "jp-Notebook" in dumped.stdout, "JupyterLab did not open the chapter as a notebook"
    assert "Lasso" in dumped.stdout, "the notebook does not show the chapter's text"
    assert shot.exists() and shot.stat().st_size > 10_000


def test_make_lab_on_a_port_in_use_is_one_clear_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert port_in_use(port)
        done = subprocess.run(["make", "-s", "lab", f"LAB_PORT={port}"], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and f"port {port} is in use" in lines[0] and f"LAB_PORT={port + 1}" in lines[0]


def test_overrides_keep_a_readers_other_settings(tmp_path):
    path = overrides_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
                                "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Editor"}}}))
    write_overrides(tmp_path)
    settings = json.loads(path.read_text())
    assert settings["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"] == {"python": "Editor", **VIEWERS}
    assert settings["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"


def test_lab_runs_offline_on_one_port():
    command = " ".join(lab_command(8888, open_browser=False))
    for flag in ("--LabApp.news_url=None", "--LabApp.extension_manager=readonly", "--ServerApp.port_retries=0",
                 "--port=8888", "--no-browser", "--ip=127.0.0.1"):
        assert flag in command
