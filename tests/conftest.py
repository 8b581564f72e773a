import os
import sys

import pytest

# Lets tests import the shared builders (tests/ is not a package).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fixtures  # noqa: E402
from fcn_graph.data import registry  # noqa: E402


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """(run directory, data directory) of an FCN-8s run with random weights."""
    root = tmp_path_factory.mktemp("run")
    fixtures.make_run(str(root / "run"), root / "data")
    return str(root / "run"), str(root / "data")


@pytest.fixture
def make_run():
    return fixtures.make_run


@pytest.fixture
def run_command():
    return fixtures.run_command


@pytest.fixture(autouse=True)
def restore_dataset_registry():
    """A dataset a test registers is gone after the test."""
    registry.available_datasets()  # every built-in source registered before the snapshot
    before = dict(registry._SOURCES)
    yield
    registry._SOURCES.clear()
    registry._SOURCES.update(before)
