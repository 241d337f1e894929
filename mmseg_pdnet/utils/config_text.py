"""One yapf formatting per config text.

MMEngine formats the whole config with yapf each time ``Config.pretty_text``
is read, and one ``tools/train.py`` run reads it five times (the log, the
dumped config, the runtime info, each checkpoint's meta): about 0.4 s per
reading for a PDNet config on a 2-core CPU, 2 s per run. yapf's
``FormatCode`` is a pure function of its text and style, so
:func:`memoize_config_formatting` keeps its results by text: the first
reading formats, the others find the same text and reuse the result.
"""
import functools
from typing import Optional, Tuple

from mmengine.config import config as mmengine_config

#: configs whose formatted text is kept (each a few kB)
CACHE_SIZE = 16


def memoize_config_formatting() -> None:
    """Make ``Config.pretty_text`` format each distinct text once.

    Replaces the ``FormatCode`` that ``mmengine.config.config`` imported
    from yapf by a memoizing wrapper; calls with arguments other than the
    source and a dict style go to yapf as they are. Calling it again
    changes nothing.
    """
    format_code = mmengine_config.FormatCode
    if getattr(format_code, 'is_memoized', False):
        return

    @functools.lru_cache(maxsize=CACHE_SIZE)
    def format_cached(text: str, style: Tuple[tuple, ...]) -> Tuple[str,
                                                                    bool]:
        return format_code(text, style_config=dict(style))

    @functools.wraps(format_code)
    def memoized(unformatted_source: str,
                 style_config: Optional[dict] = None,
                 **kwargs) -> Tuple[str, bool]:
        if kwargs or not isinstance(style_config, dict):
            return format_code(unformatted_source, style_config=style_config,
                               **kwargs)
        try:
            style = tuple(sorted(style_config.items()))
            hash(style)
        except TypeError:  # an unhashable style value: not cached
            return format_code(unformatted_source, style_config=style_config)
        return format_cached(unformatted_source, style)

    memoized.is_memoized = True
    memoized.cache_info = format_cached.cache_info
    mmengine_config.FormatCode = memoized
