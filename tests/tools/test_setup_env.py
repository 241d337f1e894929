"""tools/setup_env.sh's heartbeat: a long step prints its elapsed time."""
import os.path as osp
import subprocess

from tests.helpers import ROOT

HEARTBEAT = osp.join(ROOT, 'tools', 'heartbeat.sh')


def run_bash(script):
    return subprocess.run(
        ['bash', '-c', 'set -euo pipefail; log() { echo "[setup_env] $*"; }; '
         f'source {HEARTBEAT}; ' + script],
        capture_output=True, text=True, timeout=60,
        env={'PDNET_HEARTBEAT': '1', 'PATH': '/usr/bin:/bin'})


def test_heartbeat_prints_elapsed_time_while_a_step_runs():
    proc = run_bash('with_heartbeat "mmcv compile" sleep 3')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    beats = [x for x in lines if 'elapsed, still working' in x]
    assert len(beats) >= 2, proc.stdout
    assert beats[0].startswith('[setup_env] mmcv compile: 1 s elapsed')
    assert lines[-1].startswith('[setup_env] mmcv compile: done in ')


def test_heartbeat_passes_a_failure_on():
    proc = run_bash('with_heartbeat step bash -c "exit 3"; echo NOT-REACHED')
    assert proc.returncode == 3
    assert 'step: FAILED (exit 3)' in proc.stdout
    assert "NOT-REACHED" not in proc.stdout
