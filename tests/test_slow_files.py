"""The files that tests/conftest.py runs first exist (a renamed one would
silently fall back to its place in the alphabet)."""
import os.path as osp

from tests.conftest import SLOW_FILES
from tests.helpers import ROOT


def test_slow_files_exist_and_are_listed_once():
    missing = [f for f in SLOW_FILES if not osp.isfile(osp.join(ROOT, f))]
    assert not missing
    assert len(set(SLOW_FILES)) == len(SLOW_FILES)
