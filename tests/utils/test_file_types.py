"""The file suffixes live below every layer that uses them: the command
line checks, the datasets and the video I/O import them from one place,
and no lower layer imports a higher one for them."""
import ast
import os.path as osp

from mmseg_pdnet.apis import video_io
from mmseg_pdnet.datasets import image_io
from mmseg_pdnet.utils import cli, file_types


def imported_modules(module):
    """Every module a source file imports, relative ones as written
    (``..apis.video_io``), inside functions too."""
    tree = ast.parse(open(module.__file__).read())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append('.' * node.level + (node.module or ''))
    return names


def test_cli_does_not_reach_up_into_apis():
    modules = imported_modules(cli)
    assert '.file_types' in modules
    assert not [m for m in modules if 'apis' in m or 'datasets' in m]


def test_file_types_imports_nothing():
    assert imported_modules(file_types) == []
    assert osp.dirname(file_types.__file__) == osp.dirname(cli.__file__)


def test_one_definition_of_each_suffix_list():
    assert image_io.IMAGE_SUFFIXES is file_types.IMAGE_SUFFIXES
    assert video_io.IMAGE_SUFFIXES is file_types.IMAGE_SUFFIXES
    assert video_io.VIDEO_SUFFIXES is file_types.VIDEO_SUFFIXES
    assert video_io.ALPHA_VIDEO_SUFFIXES is file_types.ALPHA_VIDEO_SUFFIXES
    assert '.webm' in file_types.VIDEO_SUFFIXES
    assert set(file_types.ALPHA_VIDEO_SUFFIXES) <= set(
        file_types.VIDEO_SUFFIXES)
    for suffix in (file_types.IMAGE_SUFFIXES + file_types.VIDEO_SUFFIXES):
        assert suffix.startswith('.') and suffix == suffix.lower()
    assert not set(file_types.IMAGE_SUFFIXES) & set(
        file_types.VIDEO_SUFFIXES)


def test_cli_names_a_webm_as_a_video(tmp_path):
    assert cli._what(str(tmp_path / 'clip.webm')) == 'a video'
    assert cli._what(str(tmp_path / 'frame.PNG')) == 'an image'
