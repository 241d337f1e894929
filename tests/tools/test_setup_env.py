"""tools/setup_env.sh: the heartbeat of a long step, the switch check, the
byte-compiled environment."""
import os.path as osp
import re
import subprocess

import pytest

from tests.helpers import ROOT

HEARTBEAT = osp.join(ROOT, 'tools', 'heartbeat.sh')


def run_bash(script):
    return subprocess.run(
        ['bash', '-c', 'set -euo pipefail; log() { echo "[setup_env] $*"; }; '
         f'source {HEARTBEAT}; ' + script],
        capture_output=True, text=True, timeout=60,
        env={'PDNET_HEARTBEAT': '1', 'PATH': '/usr/bin:/bin'})


def test_heartbeat_prints_elapsed_time_while_a_step_runs(tmp_path):
    # the step ends once two beats were logged, however slow the machine
    # (a fixed `sleep 3` could see fewer beats under load)
    beats_file = tmp_path / 'beats'
    proc = run_bash(
        f'log() {{ echo "[setup_env] $*"; echo . >> {beats_file}; }}; '
        'with_heartbeat "mmcv compile" bash -c \''
        f'until [ "$(wc -l < {beats_file} 2>/dev/null || echo 0)" -ge 2 ]; '
        'do sleep 0.1; done\'')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    beats = [x for x in lines if 'elapsed, still working' in x]
    assert len(beats) >= 2, proc.stdout
    assert re.fullmatch(r'\[setup_env\] mmcv compile: \d+ s elapsed, still '
                        r'working', beats[0]), beats[0]
    assert lines[-1].startswith('[setup_env] mmcv compile: done in ')


def test_heartbeat_passes_a_failure_on():
    proc = run_bash('with_heartbeat step bash -c "exit 3"; echo NOT-REACHED')
    assert proc.returncode == 3
    assert 'step: FAILED (exit 3)' in proc.stdout
    assert "NOT-REACHED" not in proc.stdout


def test_a_bad_mmcv_ops_switch_is_one_line_before_any_step(tmp_path):
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'setup_env.sh')],
        capture_output=True, text=True, timeout=60,
        env={'PDNET_MMCV_OPS': 'yes', 'PATH': '/usr/bin:/bin',
             'HOME': str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stdout == ''
    assert proc.stderr == (
        'setup_env.sh: error: PDNET_MMCV_OPS=yes: expected 0 (mmcv without '
        'compiled ops, the default) or 1 (compile them)\n')


def test_the_environment_is_byte_compiled():
    """Every module imported from the environment's site-packages has its
    .pyc: where PYTHONDONTWRITEBYTECODE is set, Python never writes them,
    and each process would compile torch, mmengine and mmseg from source.
    Checked in the environment ``make setup`` made (its stamp file)."""
    import importlib.util
    import sys
    import sysconfig
    if not osp.isfile(osp.join(sys.prefix, '.pdnet-setup-done')):
        pytest.skip('not the environment of tools/setup_env.sh')
    import mmseg_pdnet  # noqa: F401  (torch, mmengine, mmseg, mmcv...)
    purelib = sysconfig.get_paths()['purelib']
    sources = [m.__file__ for m in list(sys.modules.values())
               if getattr(m, '__file__', None)
               and m.__file__.startswith(purelib)
               and m.__file__.endswith('.py')]
    assert len(sources) > 500
    missing = [s for s in sources
               if not osp.isfile(importlib.util.cache_from_source(s))]
    assert not missing, f'{len(missing)} modules without .pyc: {missing[:5]}'
