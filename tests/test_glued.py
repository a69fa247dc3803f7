"""The glued-value record (``llmgeom.publish.glued``): collected from a build or a notebook, compared across machines."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat

from llmgeom.publish.glued import compare, from_build, from_notebook, read_record, renamed, write_record


def glue_output(name, plain, markdown=None, prefix="application/papermill.record/"):
    data = {f"{prefix}text/plain": plain}
    if markdown is not None:
        data[f"{prefix}text/markdown"] = markdown
    return nbformat.v4.new_output("display_data", data=data,
                                  metadata={"scrapbook": {"name": name, "mime_prefix": prefix}})


def test_a_notebook_and_a_build_give_the_same_record(tmp_path):
    cell = nbformat.v4.new_code_cell("glue(...)")
    cell.outputs = [glue_output("c1_b", "0.25"), glue_output("c1_verdict", "not reproduced", "**not reproduced**"),
                    nbformat.v4.new_output("stream", text="ignored")]
    notebook = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_markdown_cell("text")])
    from_nb = from_notebook(notebook, "02_x")
    # what MyST-NB writes into jupyter_execute/: the prefix stripped, keyed by name
    (tmp_path / "02_x.glue.json").write_text(json.dumps({
        "c1_b": {"output_type": "display_data", "data": {"text/plain": "0.25"}},
        "c1_verdict": {"output_type": "display_data",
                       "data": {"text/plain": "not reproduced", "text/markdown": "**not reproduced**"}}}))
    assert from_nb == from_build(tmp_path) == {
        "02_x::c1_b": {"text/plain": "0.25"},
        "02_x::c1_verdict": {"text/plain": "not reproduced", "text/markdown": "**not reproduced**"}}


def test_numbers_within_tolerance_are_equal_and_beyond_it_are_reported():
    old = {"a::x": {"text/plain": "1.0"}, "a::tiny": {"text/plain": "2e-14"}, "a::y": {"text/plain": "1.0"},
           "a::nan": {"text/plain": "nan"}, "a::gone": {"text/plain": "3"}}
    new = {"a::x": {"text/plain": "1.00000001"}, "a::tiny": {"text/plain": "7e-14"}, "a::y": {"text/plain": "1.01"},
           "a::nan": {"text/plain": "nan"}, "a::new": {"text/plain": "4"}}
    found = compare(new, old)
    assert found.compared == 4
    assert [name for name, *_ in found.numbers] == ["a::y"]
    assert found.only_new == ["a::new"] and found.only_old == ["a::gone"]
    assert "compared: 4" in found.summary() and "a::y" in found.summary()


def test_a_verdict_that_differs_is_named_and_other_text_is_counted():
    old = {"c::c1_verdict": {"text/plain": "reproduced", "text/markdown": "**reproduced**"},
           "c::caption": {"text/plain": "one", "text/markdown": "one"}}
    new = {"c::c1_verdict": {"text/plain": "partly", "text/markdown": "**partly**"},
           "c::caption": {"text/plain": "two", "text/markdown": "two"}}
    found = compare(new, old)
    assert found.verdicts == [("c::c1_verdict", "partly", "reproduced")]
    assert found.strings == ["c::caption"]
    assert "VERDICT c::c1_verdict" in found.summary()


def test_the_command_line_records_compares_and_reports_a_missing_record_in_one_line(tmp_path):
    (tmp_path / "ch.glue.json").write_text(json.dumps({"v": {"data": {"text/plain": "1.5"}}}))
    record = tmp_path / "glue.json"
    run = lambda *args: subprocess.run([sys.executable, "-m", "llmgeom.publish.glued", *args], capture_output=True, text=True)
    done = run("record", str(tmp_path), str(record))
    assert done.returncode == 0 and read_record(record)["values"] == {"ch::v": {"text/plain": "1.5"}}
    write_record({"ch::v": {"text/plain": "1.6"}}, tmp_path / "old.json")
    done = run("compare", str(record), str(tmp_path / "old.json"))
    assert done.returncode == 0 and "differing beyond tolerance" in done.stdout and "ch::v" in done.stdout
    done = run("compare", str(record), str(tmp_path / "missing.json"))
    assert done.returncode == 0 and done.stdout.strip().count("\n") == 0 and "skipped" in done.stdout
    done = run("record", str(tmp_path / "nothing"), str(tmp_path / "x.json"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "make book" in done.stderr


def test_chapters_that_render_committed_records_can_be_left_out():
    old = {"92_performance::perf_test_s": {"text/plain": "700"}, "04_x::a": {"text/plain": "1"}}
    new = {"92_performance::perf_test_s": {"text/plain": "650"}, "04_x::a": {"text/plain": "1"}}
    assert compare(new, old).numbers and not compare(new, old, skip=("92_performance",)).numbers
    assert compare(new, old, skip=("92_performance",)).compared == 1


def test_a_renaming_maps_the_old_records_names_and_leaves_the_rest():
    old = {"02_x::c2_b": {"text/plain": "0.25"}, "02_x::lad_c2_y": {"text/plain": "1"}, "plain": {"text/plain": "2"}}
    assert set(renamed(old, [(r"^c([2-7])_", r"ch\1_")])) == {"02_x::ch2_b", "02_x::lad_c2_y", "plain"}
