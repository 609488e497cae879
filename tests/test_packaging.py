"""The package metadata in the form current setuptools reads without a deprecation warning:
``project.license`` as an SPDX expression, which needs setuptools 77 or newer to build."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.version import Version

from tests.support.paths import REPO


def test_the_license_is_an_spdx_string_built_by_a_setuptools_that_reads_it() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    build = {Requirement(r).name: Requirement(r) for r in project["build-system"]["requires"]}
    assert not build["setuptools"].specifier.contains(Version("76.1.0"))  # rejects the string
    assert build["setuptools"].specifier.contains(Version("77.0.3"))
    for file in project["project"].get("license-files", []):
        assert (REPO / file).is_file(), file
