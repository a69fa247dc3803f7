"""The build-time site configuration: fresh execution and the repository / launch buttons."""

import subprocess
import sys

import pytest
import yaml

from llmgeom.publish.siteconfig import site_config


def test_without_a_repository_its_buttons_stay_off_and_downloads_stay_on():
    config = site_config()
    assert "repository" not in config and "launch_buttons" not in config
    assert config["html"]["use_download_button"] is True
    assert config["execute"]["execute_notebooks"] == "cache"


def test_a_repository_url_turns_on_its_buttons_and_fresh_forces_execution():
    config = site_config(fresh=True, repo="https://github.com/example/llmgeom.git")
    assert config["repository"]["url"] == "https://github.com/example/llmgeom"
    assert config["html"]["use_repository_button"] and config["html"]["use_download_button"]
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert "colab_url" not in config["launch_buttons"]  # a chapter opened in Colab has neither library nor inputs
    assert config["execute"]["execute_notebooks"] == "force"
    assert config["html"]["baseurl"] == "https://example.github.io/llmgeom/"  # where the deploy workflow publishes


def test_the_base_url_is_the_pages_address_or_the_one_given():
    from llmgeom.publish.siteconfig import pages_url

    assert pages_url("https://github.com/Owner/Book.git") == "https://owner.github.io/Book/"
    assert pages_url("https://gitlab.com/owner/book") is None
    assert "baseurl" not in site_config(repo="https://gitlab.com/owner/book")["html"]
    assert site_config(base_url="https://example.org/book")["html"]["baseurl"] == "https://example.org/book/"
    with pytest.raises(ValueError, match="BASE_URL"):
        site_config(base_url="example.org")


def test_a_bad_url_is_one_line_from_the_command_line():
    with pytest.raises(ValueError, match="https URL"):
        site_config(repo="/local/path")
    run = subprocess.run([sys.executable, "-m", "llmgeom.publish.siteconfig", "--repo", "/local/path"], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    ok = subprocess.run([sys.executable, "-m", "llmgeom.publish.siteconfig", "--fresh"], capture_output=True, text=True)
    assert yaml.safe_load(ok.stdout)["execute"]["execute_notebooks"] == "force"
