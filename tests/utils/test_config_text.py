"""``Config.pretty_text`` formats each distinct config text once."""
from mmengine.config import Config
from mmengine.config import config as mmengine_config

import mmseg_pdnet  # noqa: F401  (installs the memoized formatting)
from mmseg_pdnet.utils import memoize_config_formatting


def test_repeated_readings_format_once_and_give_yapfs_text():
    cfg = Config(dict(model=dict(type='PDNet', channels=[1, 2, 3]),
                      name='repeated readings'))
    memoized = mmengine_config.FormatCode
    # the text MMEngine's own formatting gives, yapf called directly
    mmengine_config.FormatCode = memoized.__wrapped__
    try:
        plain = cfg.pretty_text
    finally:
        mmengine_config.FormatCode = memoized
    before = memoized.cache_info()
    texts = [cfg.pretty_text for _ in range(5)]
    after = memoized.cache_info()
    assert texts == [plain] * 5
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 4


def test_a_changed_config_is_formatted_again():
    cfg = Config(dict(model=dict(type='PDNet', channels=64)))
    first = cfg.pretty_text
    cfg.model.channels = 128
    second = cfg.pretty_text
    assert 'channels=64' in first and 'channels=128' in second


def test_installing_twice_keeps_one_wrapper():
    memoized = mmengine_config.FormatCode
    memoize_config_formatting()
    assert mmengine_config.FormatCode is memoized
    assert memoized.is_memoized
