# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The CUDA-only tests (``pytest -k cuda``), run in a subprocess."""
import os
import os.path as osp
import re
import sys
import xml.etree.ElementTree as ET
from typing import List, Sequence

from .command import run_command

# a test file with tests that depend on CUDA asks this
_CUDA_MARK = re.compile(r'torch\.cuda\.is_available\(\)')


def cuda_test_files(root: str) -> List[str]:
    """Test files under ``root/tests`` whose tests depend on CUDA (they
    ask ``torch.cuda.is_available()``); ``-k cuda`` then picks the tests
    named after CUDA.

    Args:
        root (str): The repository root.

    Returns:
        list[str]: Paths relative to ``root``, sorted.
    """
    found = []
    for folder, _, files in os.walk(osp.join(root, 'tests')):
        for name in files:
            if name.startswith('test_') and name.endswith('.py'):
                path = osp.join(folder, name)
                with open(path, encoding='utf-8') as f:
                    if _CUDA_MARK.search(f.read()):
                        found.append(osp.relpath(path, root))
    return sorted(found)


def parse_junit(path: str) -> dict:
    """Counts of a pytest ``--junitxml`` file.

    Returns:
        dict: ``tests`` (run or skipped), ``passed``, ``failed``,
        ``errors``, ``skipped`` and ``failures`` (the failed tests' ids).
    """
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == 'testsuite' else root.findall('testsuite')
    counts = dict(tests=0, failed=0, errors=0, skipped=0)
    failures = []
    for suite in suites:
        for case in suite.iter('testcase'):
            counts['tests'] += 1
            name = f'{case.get("classname")}::{case.get("name")}'
            if case.find('failure') is not None:
                counts['failed'] += 1
                failures.append(name)
            elif case.find('error') is not None:
                counts['errors'] += 1
                failures.append(name)
            elif case.find('skipped') is not None:
                counts['skipped'] += 1
    counts['passed'] = counts['tests'] - counts['failed'] - \
        counts['errors'] - counts['skipped']
    counts['failures'] = failures
    return counts


def run_cuda_tests(root: str, out_dir: str, files: Sequence[str],
                   timeout_s: int) -> dict:
    """``python -m pytest -q -k cuda FILES`` from ``root``.

    Args:
        root (str): The repository root (the working directory).
        out_dir (str): Where the JUnit XML file goes.
        files (Sequence[str]): Test files.
        timeout_s (int): Limit of the run.

    Returns:
        dict: the command, its exit status, the counts of
        :func:`parse_junit`, ``deselected`` (tests without "cuda" in their
        id) and the last lines of its output.
    """
    xml = osp.join(out_dir, 'cuda_tests.xml')
    cmd = [sys.executable, '-m', 'pytest', '-q', '-k', 'cuda',
           '-p', 'no:cacheprovider', f'--junitxml={xml}', *files]
    proc, result = run_command(cmd, root, timeout_s)
    result['output_tail'] = proc.stdout.strip().splitlines()[-5:]
    if not osp.isfile(xml):
        raise RuntimeError(f'pytest wrote no {xml} (exit status '
                           f'{proc.returncode}): {proc.stderr.strip()[-300:]}')
    result.update(parse_junit(xml))
    match = re.search(r'(\d+) deselected', proc.stdout)
    result['deselected'] = int(match.group(1)) if match else 0
    return result
