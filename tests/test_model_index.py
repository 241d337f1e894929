"""OpenMMLab's ``mim`` sees the plugin: ``model-index.yml`` imports
``configs/pdnet/metafile.yaml``, which names every config of
``configs/pdnet/``; installed packages carry them in ``mmseg_pdnet/.mim``.
"""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml

from tests.helpers import ROOT

PY = sys.executable
MIM = osp.join(osp.dirname(PY), 'mim')
METAFILE = osp.join(ROOT, 'configs', 'pdnet', 'metafile.yaml')
#: what setup.py puts into mmseg_pdnet/.mim
MIM_FILES = ('model-index.yml', 'configs', 'tools')
#: the authors' trained weights (Google Drive pages, not direct files)
AUTHORS_WEIGHTS = {
    'pdnet_r50_2xb2-60e_mvps-480x480':
    'https://drive.google.com/file/d/1x1oQpRheUZffqvaXUZxd54gB7YmD7pGN/'
    'view?usp=sharing',
    'pdnet_r101_2xb2-60e_mvps-480x480':
    'https://drive.google.com/file/d/1dMIVy2wFTBHAk1rFF-v6Gj5YICc7R5Ea/'
    'view?usp=sharing',
}


def load_models():
    with open(METAFILE) as f:
        return yaml.safe_load(f)['Models']


def zoo_config_names():
    return sorted(
        osp.splitext(osp.basename(p))[0]
        for p in glob.glob(osp.join(ROOT, 'configs', 'pdnet', '*.py')))


def run(args, **kwargs):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300,
                          **kwargs)
    assert proc.returncode == 0, (args, proc.stdout + proc.stderr)
    return proc


def mim_search(mim_cmd, out_json, **kwargs):
    """``mim search mmseg_pdnet`` through the environment's own mim; the
    table as ``{field: {config id: value}}`` (its ``--json``)."""
    assert osp.isfile(MIM), (
        f'{MIM} missing: openmim is in the tests extra '
        '(pip install -e ".[tests]")')
    run(mim_cmd + ['search', 'mmseg_pdnet', '--json', out_json], **kwargs)
    with open(out_json) as f:
        return json.load(f)


def test_model_index_imports_the_metafile():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert index == {'Import': ['configs/pdnet/metafile.yaml']}


def test_metafile_names_every_config_and_only_existing_ones():
    models = load_models()
    names = [m['Name'] for m in models]
    assert len(set(names)) == len(names)
    for model in models:
        # mim joins these to <package>/.mim: paths from the repository root
        assert osp.isfile(osp.join(ROOT, model['Config'])), model['Config']
        assert model['Config'] == f'configs/pdnet/{model["Name"]}.py'
    assert sorted(names) == zoo_config_names()


def test_metafile_weights_are_honest():
    """No checkpoint is hosted: ``Weights`` is empty everywhere (``mim
    download`` would fetch a Google Drive HTML page as a .pth); the authors'
    pages are under ``Converted From``, for the two configs they fit."""
    models = {m['Name']: m for m in load_models()}
    for name, model in models.items():
        assert model.get('Weights') is None, name
        converted = model.get('Converted From')
        if name in AUTHORS_WEIGHTS:
            assert converted == {'Weights': AUTHORS_WEIGHTS[name],
                                 'Code': 'https://github.com/iCVTEAM/PDNet'}
        else:
            assert converted is None, name
    # the paper has no PDNet-R101 number: none is listed
    assert 'Results' not in models['pdnet_r101_2xb2-60e_mvps-480x480']
    pp = models['pdnet_r50_2xb2-60e_pphumanseg14k-480x480']['Results']
    assert pp['Dataset'] == 'PP-HumanSeg14K'
    assert pp['Metrics'] == {'J&F': 96.0, 'J': 97.1, 'F': 94.9}


def test_modelindex_loads_the_index():
    from modelindex.load_model_index import load
    index = load(osp.join(ROOT, 'model-index.yml'))
    assert [c.name for c in index.collections] == ['PDNet']
    assert sorted(m.name for m in index.models) == zoo_config_names()
    readme = index.collections[0].readme
    assert osp.isfile(osp.join(ROOT, readme)), readme


def copy_sources(dst):
    """What an sdist holds (MANIFEST.in), without the editable install's
    ``mmseg_pdnet/.mim`` links and caches."""
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim')
    os.makedirs(dst)
    for name in ('setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml'):
        shutil.copyfile(osp.join(ROOT, name), osp.join(dst, name))
    for name in ('mmseg_pdnet', 'configs', 'tools'):
        shutil.copytree(osp.join(ROOT, name), osp.join(dst, name),
                        ignore=ignore)


def test_mim_search_lists_every_config_of_an_installed_wheel(tmp_path):
    """A wheel (what ``pip install .`` builds) ships model-index.yml, the
    configs and the tools in ``mmseg_pdnet/.mim``, and ``mim search`` finds
    them there."""
    src, dist, target = (str(tmp_path / d) for d in ('src', 'dist', 'site'))
    copy_sources(src)
    pip = [PY, '-m', 'pip', '--disable-pip-version-check', '-q']
    run(pip + ['wheel', '--no-deps', '--no-build-isolation', '-w', dist, src])
    wheel, = glob.glob(osp.join(dist, 'mmseg_pdnet-*.whl'))
    run(pip + ['install', '--no-deps', '--target', target, wheel])
    mim_dir = osp.join(target, 'mmseg_pdnet', '.mim')
    for rel in ('model-index.yml', 'configs/pdnet/metafile.yaml',
                'configs/pdnet/README.md', 'configs/_base_/datasets/mvps.py',
                'tools/train.py', 'tools/test.py', 'tools/dist_train.sh'):
        assert osp.isfile(osp.join(mim_dir, rel)), rel
    with zipfile.ZipFile(wheel) as zf:
        assert not [n for n in zf.namelist() if '__pycache__' in n]
    # only the package: the test suite is not installed with it
    assert sorted(os.listdir(target)) == [
        'mmseg_pdnet', 'mmseg_pdnet-0.1.0.dist-info']
    # the wheel's copy comes first on sys.path, before the environment's
    # own (editable) mmseg_pdnet
    table = mim_search([MIM], str(tmp_path / 'search.json'),
                       cwd=str(tmp_path),
                       env=dict(os.environ, PYTHONPATH=target))
    assert sorted(table['config']) == zoo_config_names()
    for name, path in table['config'].items():
        assert path == f'configs/pdnet/{name}.py'
        assert osp.isfile(osp.join(mim_dir, path))
    r50 = 'pdnet_r50_2xb2-60e_mvps-480x480'
    assert (table['mvps/j&f'][r50], table['mvps/j'][r50],
            table['mvps/f'][r50]) == (88.1, 90.0, 86.1)


def editable_roots():
    """The source folders of the editable installs of mmseg_pdnet that
    ``sys.path`` sees (from the clone's root it also sees the
    ``mmseg_pdnet.egg-info`` there, which has no ``direct_url.json``)."""
    from importlib.metadata import distributions
    roots = []
    for dist in distributions(name='mmseg_pdnet'):
        info = json.loads(dist.read_text('direct_url.json') or '{}')
        url = info.get('url', '')
        if info.get('dir_info', {}).get('editable') and \
                url.startswith('file://'):
            roots.append(osp.realpath(url[len('file://'):]))
    return roots


@pytest.mark.skipif(
    osp.realpath(ROOT) not in editable_roots(),
    reason='mmseg_pdnet is not installed in editable mode from this clone')
def test_editable_install_links_the_mim_files(tmp_path):
    """``pip install -e .`` (``make setup``) links ``mmseg_pdnet/.mim/*``
    to the sources, so mim reads the configs as they are edited.

    mim looks for ``.mim`` under the folder of the distribution's metadata;
    a PEP 660 editable install keeps that in site-packages, without the
    package. From the clone's root, ``python -m mim`` finds the
    ``mmseg_pdnet.egg-info`` the editable install writes there first.
    """
    mim_dir = osp.join(ROOT, 'mmseg_pdnet', '.mim')
    for name in MIM_FILES:
        link = osp.join(mim_dir, name)
        assert osp.islink(link), f'{link}: not a link (pip install -e .)'
        assert os.readlink(link) == osp.join('..', '..', name)
        assert osp.realpath(link) == osp.realpath(osp.join(ROOT, name))
    table = mim_search([PY, '-m', 'mim'], str(tmp_path / 'search.json'),
                       cwd=ROOT)
    assert sorted(table['config']) == zoo_config_names()
