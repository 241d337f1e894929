"""What ``import mmseg_pdnet`` registers, and that it overrides nothing of
MMSeg / MMEngine but the documented names (docs/architecture.md,
"Registered names").

The registries are compared before and after the import in a fresh
interpreter, so the result does not depend on what the test session
imported first.
"""
import json
import os.path as osp
import re
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import ROOT

#: registry (as ``mmseg.registry.<NAME>``) -> the names mmseg_pdnet adds
EXPECTED = {
    'DATASETS': {
        'VideoPortraitDataset', 'MVPSDataset', 'DAVISVideoDataset',
        'PortraitImageDataset', 'PPHumanSeg14KDataset'
    },
    'TRANSFORMS': {
        'LoadPairedImages', 'LoadPairedAnnotations', 'PairedRandomCrop',
        'PairedRandomFlip', 'PairedResize', 'PairedPhotoMetricDistortion',
        'PackPairedSegInputs'
    },
    'MODELS': {
        'PDNet', 'SiameseEncoder', 'MultiplicativeTopDown', 'IPDA',
        'PartCrossAttention', 'PDFusionHead', 'SpatiotemporalFusion',
        'PairedSegDataPreProcessor', 'WeightedBCELoss', 'SigmoidL1Loss',
        'PDSegLoss', 'PartDecouplingLoss', 'GeometricConcentrationLoss',
        'SemanticConsistencyLoss', 'OrthonormalLoss', 'AreaVarianceLoss',
        'FrozenResNet18Features'
    },
    'HOOKS': {
        'AtomicCheckpointHook', 'CheckpointHook', 'ChannelsLastHook',
        'InferenceSpeedHook', 'PairVisualizationHook', 'SaveMasksHook',
        'StrictLoadHook', 'PreemptionHook', 'NonFiniteLossHook'
    },
    'LOOPS': {'AlternatingImageVideoLoop'},
    'METRICS': {'JFMetric'},
    'OPTIM_WRAPPERS': {'CPUAutocastOptimWrapper'},
    'OPTIM_WRAPPER_CONSTRUCTORS': {'PhaseOptimWrapperConstructor'},
    'PARAM_SCHEDULERS': {'PDNetPolyLR'},
}

#: the deliberate overrides: (registry, name) -> the class it resolves to
#: in the mmseg scope; shadows the name of an ancestor (MMEngine) registry
SHADOWED = {('HOOKS', 'CheckpointHook'): 'AtomicCheckpointHook'}

#: CheckpointLoader schemes replaced on purpose (clear errors offline, and
#: the checked local loading of mmseg_pdnet.utils.checkpoint)
SCHEMES = {'', 'http://', 'https://', 'torchvision://'}

SNAPSHOT = textwrap.dedent('''
    import json

    import mmengine.registry as mmengine_registry
    from mmengine.registry import Registry
    # every module of MMEngine / MMCV / MMSeg registered BEFORE the import
    import mmcv.transforms  # noqa: F401
    import mmengine.dataset, mmengine.evaluator, mmengine.hooks  # noqa
    import mmengine.model, mmengine.optim, mmengine.runner  # noqa
    import mmengine.visualization  # noqa: F401
    import mmseg.registry as mmseg_registry
    from mmengine.runner import CheckpointLoader
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)

    def registries():
        """Every registry: MMEngine's roots and all their children."""
        todo = [r for r in vars(mmengine_registry).values()
                if isinstance(r, Registry)]
        seen = {}
        while todo:
            r = todo.pop()
            if id(r) not in seen:
                seen[id(r)] = r
                todo.extend(r.children.values())
        return list(seen.values())

    def snapshot():
        return {id(r): dict(r.module_dict) for r in registries()}

    def ancestors_have(r, name, snap):
        r = r.parent
        while r is not None:
            if name in snap.get(id(r), {}):
                return True
            r = r.parent
        return False

    mmseg_names = {id(r): n for n, r in vars(mmseg_registry).items()
                   if isinstance(r, Registry)}
    before, schemes = snapshot(), dict(CheckpointLoader._schemes)
    import mmseg_pdnet  # noqa: F401,E402
    after = snapshot()

    out = dict(added=[], replaced=[], shadowed=[], schemes=[])
    for r in registries():
        label = mmseg_names.get(id(r), f'{r.scope}:{r.name}')
        old = before.get(id(r), {})
        for name, obj in after.get(id(r), {}).items():
            entry = [label, name, obj.__module__, obj.__name__]
            if name not in old:
                out['added'].append(entry)
                if ancestors_have(r, name, before):
                    out['shadowed'].append(entry)
            elif old[name] is not obj:
                out['replaced'].append(entry)
    for prefix, fn in CheckpointLoader._schemes.items():
        if schemes.get(prefix) is not fn:
            out['schemes'].append([prefix, prefix in schemes, fn.__module__])
    print('SNAPSHOT' + json.dumps(out))
''')


@pytest.fixture(scope='module')
def snapshot():
    proc = subprocess.run([sys.executable, '-c', SNAPSHOT], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith('SNAPSHOT')]
    assert len(line) == 1, proc.stdout[-3000:]
    return json.loads(line[0][len('SNAPSHOT'):])


def test_import_registers_the_expected_names(snapshot):
    ours = {}
    for registry, name, module, _ in snapshot['added']:
        if module.split('.')[0] == 'mmseg_pdnet':
            ours.setdefault(registry, set()).add(name)
    assert ours == EXPECTED


def test_import_overrides_only_the_documented_names(snapshot):
    # no entry of an existing registry is swapped for another class
    assert snapshot['replaced'] == []
    # names an ancestor registry already had: only the deliberate ones
    shadowed = {(registry, name): cls
                for registry, name, _, cls in snapshot['shadowed']}
    assert shadowed == SHADOWED
    replaced = {prefix for prefix, existed, module in snapshot['schemes']
                if module.startswith('mmseg_pdnet.')}
    assert replaced == SCHEMES
    # they replace MMEngine's schemes: no new prefix is claimed
    assert all(existed for _, existed, _ in snapshot['schemes'])


def test_checkpoint_hook_resolves_to_the_atomic_hook_in_the_mmseg_scope():
    import mmengine.hooks
    from mmengine.registry import HOOKS as MMENGINE_HOOKS
    from mmseg.registry import HOOKS

    from mmseg_pdnet.engine.hooks.atomic_checkpoint_hook import \
        AtomicCheckpointHook
    assert HOOKS.get('CheckpointHook') is AtomicCheckpointHook
    assert HOOKS.get('mmseg.CheckpointHook') is AtomicCheckpointHook
    # MMEngine's own registry keeps its hook for the other scopes
    assert MMENGINE_HOOKS.module_dict['CheckpointHook'] is \
        mmengine.hooks.CheckpointHook


def _documented_names():
    """(registry, name) of the table rows of the "Registered names"
    section of docs/architecture.md."""
    with open(osp.join(ROOT, 'docs', 'architecture.md')) as f:
        text = f.read()
    match = re.search(r'^## Registered names\n(.*?)(?=^## |\Z)', text,
                      re.S | re.M)
    assert match, 'docs/architecture.md has no "## Registered names"'
    rows = re.findall(r'^\| `([A-Za-z0-9]+)` \| `([A-Z_]+)` \|',
                      match.group(1), re.M)
    return rows


def test_docs_list_every_registered_name():
    rows = _documented_names()
    assert len(rows) == len(set(rows))
    documented = {}
    for name, registry in rows:
        documented.setdefault(registry, set()).add(name)
    assert documented == EXPECTED
