"""Publishing and launching (issue 35): the deploy workflow builds with the README's command and publishes the
site, Binder installs the CPU torch and the library, and every command the README names exists."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"


def readme_commands() -> list[str]:
    """Every line of the README's shell code blocks, comments stripped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.split("#")[0].strip()]


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.M))


def test_the_workflow_parses_builds_with_the_readmes_command_and_deploys_the_site():
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads a bare `on` as true
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    runs = [step["run"] for step in build["steps"] if "run" in step]
    makes = [run for run in runs if run.startswith("make ")]
    assert len(makes) == 1 and makes[0].split()[:2] == ["make", "book"], "the site is built by `make book`"
    assert any(cmd.split()[:2] == ["make", "book"] for cmd in readme_commands()), "the README names `make book`"
    assert "download.pytorch.org/whl/cpu" in build["env"]["PIP_EXTRA_INDEX_URL"]
    (upload,) = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])
    assert ".github/workflows/deploy.yml" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_make_target_the_readme_names_exists():
    targets = make_targets()
    named = {m for cmd in readme_commands() for m in re.findall(r"\bmake ([a-z][a-z-]*)", cmd)}
    prose = re.findall(r"`make ([a-z][a-z-]*)", (ROOT / "README.md").read_text(encoding="utf-8"))
    missing = sorted((named | set(prose)) - targets)
    assert named and not missing, f"the README names make targets that do not exist: {missing}"


def test_binder_installs_the_cpu_torch_the_pinned_requirements_and_the_library():
    requirements = (ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert "-r ../requirements.txt" in requirements
    assert "-e ." in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()  # the library itself
    post = ROOT / "binder" / "postBuild"
    assert os.access(post, os.X_OK)
    text = post.read_text(encoding="utf-8")
    assert "write_overrides()" in text and "python -m llmgeom fetch" in text  # chapters open as notebooks; inputs
    runtime = (ROOT / "binder" / "runtime.txt").read_text(encoding="utf-8").strip()
    assert runtime == "python-3.11" and "Python 3.11" in (ROOT / "README.md").read_text(encoding="utf-8")
