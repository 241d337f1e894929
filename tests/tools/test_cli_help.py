"""``--help`` of every tool: each option explained, defaults shown."""
import argparse

import pytest

TOOLS = {
    # tool: a text its --help must show
    'infer_video.py':
        '--output-type {mask,overlay,alpha,rgba,background,side-by-side}',
    'test.py': '(default: 2)',
    'train.py': 'job launcher (default: none)',
    'eval_masks.py': '(default: auto)',
    'misc/check_dataset.py': 'dataset root',
    'deployment/export_onnx.py': 'ONNX opset version (default: 17)',
    'analysis_tools/reference_sensitivity.py': '(default: cpu)',
    'analysis_tools/long_video_memory.py':
        'frames between two samples (default: 500)',
}


@pytest.mark.parametrize('name', sorted(TOOLS))
def test_every_option_has_help_and_defaults_are_shown(name, load_tool,
                                                      capsys):
    tool = load_tool(name)
    parser = tool.build_parser()
    undocumented = [a.dest for a in parser._actions
                    if not isinstance(a, argparse._HelpAction)
                    and not (a.help or '').strip()]
    assert not undocumented, f'{name}: options without help: {undocumented}'
    with pytest.raises(SystemExit) as err:
        (tool.main if hasattr(tool, 'main') else tool.parse_args)(['--help'])
    assert err.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith('usage: ') and TOOLS[name] in text
    # meaningless defaults are left out
    assert '(default: None)' not in text and '(default: False)' not in text
    for action in parser._actions:
        if action.default not in (None, False, argparse.SUPPRESS) and \
                action.option_strings:
            assert f'(default: {action.default}' in ' '.join(text.split()), (
                name, action.dest)


def test_infer_video_help_shows_its_defaults(load_tool):
    text = ' '.join(load_tool('infer_video.py').build_parser().format_help()
                    .split())
    for snippet in ("'#RRGGBB' or an image path (scaled to cover the frame, "
                    'then cropped at the centre: aspect kept) (default: '
                    'blur)',
                    'N frames (default: 100)', '(default: overlay)',
                    '(default: auto)', 'stop after N frames (N >= 1; '
                    'default: all)'):
        assert snippet in text
