"""Install mmseg_pdnet, the PDNet plugin for MMSegmentation 1.x."""
import os
import os.path as osp
import platform
import shutil
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
#: what OpenMMLab's ``mim`` reads from ``<package>/.mim``: the model index
#: (``mim search``), the configs (``mim download``) and the tools
#: (``mim train`` / ``mim test`` / ``mim run``)
MIM_FILES = ('model-index.yml', 'configs', 'tools')
MIM_IGNORE = shutil.ignore_patterns('__pycache__', '*.py[cod]')


def readme():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        return f.read()


def _remove(path):
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def _copy_mim_files(mim_dir):
    """Copy :data:`MIM_FILES` from the source tree into ``mim_dir``."""
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(ROOT, name), osp.join(mim_dir, name)
        _remove(dst)
        if osp.isdir(src):
            shutil.copytree(src, dst, ignore=MIM_IGNORE)
        else:
            shutil.copyfile(src, dst)


def link_mim_files():
    """Editable installs: ``mmseg_pdnet/.mim/<name>`` -> ``../../<name>``.

    The OpenMMLab way (mmsegmentation's ``add_mim_extension``): the links
    keep ``.mim`` current while configs and tools are edited. Windows gets
    copies (symlinks need privileges there). The folder is git-ignored.
    """
    mim_dir = osp.join(ROOT, 'mmseg_pdnet', '.mim')
    if platform.system() == 'Windows':
        _copy_mim_files(mim_dir)
        return
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        dst = osp.join(mim_dir, name)
        target = osp.join('..', '..', name)
        if osp.islink(dst) and os.readlink(dst) == target:
            continue
        _remove(dst)
        os.symlink(target, dst)


class BuildPyWithMim(build_py):
    """``build_py`` that also copies :data:`MIM_FILES` into the build's
    ``mmseg_pdnet/.mim``, so that wheels (``pip install .``, ``pip wheel``,
    builds from the sdist) ship them; the source tree is left alone."""

    def run(self):
        super().run()
        if not getattr(self, 'editable_mode', False):
            _copy_mim_files(osp.join(self.build_lib, 'mmseg_pdnet', '.mim'))


# pip runs ``editable_wheel`` for ``pip install -e .`` (``develop`` is the
# pre-PEP 660 spelling)
if {'develop', 'editable_wheel'} & set(sys.argv):
    link_mim_files()

setup(
    name='mmseg_pdnet',
    version='0.1.0',
    description='PDNet (Part-Decoupling Network) for video portrait '
    'segmentation as an MMSegmentation 1.x plugin',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=('mmseg_pdnet', 'mmseg_pdnet.*')),
    cmdclass={'build_py': BuildPyWithMim},
    python_requires='>=3.8',
    install_requires=[
        # torch is not pinned here so that GPU users keep their CUDA build;
        # tools/setup_env.sh installs the CPU build torch==2.13.0 first.
        'torch>=2.0',
        'mmengine>=0.10.0,<0.11',
        'mmcv==2.1.0',
        'mmsegmentation==1.2.2',
        'numpy',
        'opencv-python',
        # PyAV decodes and encodes every video file (its wheels bundle FFmpeg)
        'av>=18.1',
        # imported by mmseg 1.2.2 at run time but listed only as extras there
        'ftfy',
        'regex',
        # mmengine 0.10.7 imports pkg_resources (removed in setuptools 81)
        'setuptools>=77,<81',
    ],
    extras_require={
        'tests': [
            'pytest', 'onnx', 'onnxruntime', 'scikit-video',
            # `make test` spreads the tests over the cores (pytest -n)
            'pytest-xdist',
            # `mim search mmseg_pdnet` (tests/test_model_index.py)
            'openmim==0.3.9',
            # openmim -> opendatalab -> openxlab, which mim's search does not
            # use (only `mim download --dataset` does). Later openxlab
            # releases pin setuptools~=60.2, requests~=2.28, rich~=13.4,
            # packaging~=24.0, ...: they would downgrade the environment
            # (setuptools below what setup_env.sh installs). 0.0.11 has no
            # requirements.
            'openxlab==0.0.11',
        ],
        # MMEngine resolves the configs' torchvision://resnet50 / resnet18
        # ImageNet weights through torchvision: install the build that
        # matches your torch (training with the paper configs only)
        'train': ['torchvision'],
        # browser-playable H.264 MP4s from tools/infer_video.py (PyAV wheels
        # bundle FFmpeg with libx264); without it: MPEG-4 Part 2 via OpenCV
        'video': ['av>=18.1'],
    },
    zip_safe=False,
)
