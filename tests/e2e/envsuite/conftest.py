# Copyright: contributors to pptv.dcos
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform the environment and release suites share: built once, removed after the package."""

from __future__ import annotations

import pytest

from .envplatform import build_platform


@pytest.fixture(scope="package")
def platform(tmp_path_factory):
    with build_platform(tmp_path_factory) as built:
        yield built
