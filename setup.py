"""Install mmseg_pdnet, the PDNet plugin for MMSegmentation 1.x."""
from setuptools import find_packages, setup


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


setup(
    name='mmseg_pdnet',
    version='0.1.0',
    description='PDNet (Part-Decoupling Network) for video portrait '
    'segmentation as an MMSegmentation 1.x plugin',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
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
        # imported by mmseg 1.2.2 at run time but listed only as extras there
        'ftfy',
        'regex',
        # mmengine 0.10.7 imports pkg_resources (removed in setuptools 81)
        'setuptools>=77,<81',
    ],
    extras_require={
        'tests': ['pytest', 'onnx', 'onnxruntime', 'scikit-video'],
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
