"""Expanding INPUT arguments: frame folders, folders of videos, globs."""
import pytest

from mmseg_pdnet.apis.batch_inputs import (batch_outputs, clip_name,
                                           expand_inputs, folder_kind, shard)
from mmseg_pdnet.utils.cli import CLIError


def touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b'x')
    return folder


def test_a_folder_is_frames_or_videos_never_both(tmp_path):
    frames = touch(tmp_path / 'frames', '000.png', '001.png', 'README.txt')
    videos = touch(tmp_path / 'videos', 'b.mp4', 'a.MOV', '.hidden.mp4')
    assert folder_kind(str(frames)) == 'frames'
    assert folder_kind(str(videos)) == 'videos'
    mixed = touch(tmp_path / 'mixed', '000.jpg', 'a.mp4')
    with pytest.raises(CLIError) as err:
        folder_kind(str(mixed))
    assert str(err.value) == (
        f'{mixed}: folder holds both frames (1 images, e.g. 000.jpg) and '
        'videos (1, e.g. a.mp4); a folder is one video of frames or a '
        'folder of videos: move one kind out')
    empty = touch(tmp_path / 'empty', 'notes.txt')
    touch(empty / 'clip1', '0.png')
    with pytest.raises(CLIError) as err:
        folder_kind(str(empty))
    assert str(err.value).startswith(
        f'{empty}: folder holds no image frame and no video (.mp4/')
    assert f"pass the quoted glob '{empty / '*'}'" in str(err.value)


def test_expand_inputs(tmp_path):
    frames = touch(tmp_path / 'frames', '000.png')
    videos = touch(tmp_path / 'videos', 'b.mp4', 'a.mov', 'notes.txt')
    # one video or one frame folder: a single-input run
    single = expand_inputs([str(frames)])
    assert single.clips == [str(frames)] and not single.batch
    missing = expand_inputs([str(tmp_path / 'none.mp4')])
    assert missing.clips == [str(tmp_path / 'none.mp4')]  # named on open
    # a folder of videos: sorted, other files left out
    many = expand_inputs([str(videos)])
    assert many.batch and many.clips == [str(videos / 'a.mov'),
                                         str(videos / 'b.mp4')]
    # a glob; several INPUTs (duplicates once)
    matched = expand_inputs([str(videos / '*.mp4')])
    assert matched.batch and matched.clips == [str(videos / 'b.mp4')]
    both = expand_inputs([str(videos / 'b.mp4'), str(frames),
                          str(videos / '*.mp4')])
    assert both.clips == sorted([str(videos / 'b.mp4'), str(frames)])
    with pytest.raises(CLIError, match='the pattern matches no file'):
        expand_inputs([str(tmp_path / '*.mkv')])
    with pytest.raises(CLIError, match=r'a folder of videos \(matched by'):
        expand_inputs([str(tmp_path / '*')])


def test_outputs_are_named_after_their_inputs(tmp_path):
    clips = [str(tmp_path / 'in' / 'a.mp4'), str(tmp_path / 'frames_b')]
    (tmp_path / 'frames_b').mkdir()
    outs = batch_outputs(clips, str(tmp_path / 'out'), '.mov')
    assert outs == {clips[0]: str(tmp_path / 'out' / 'a.mov'),
                    clips[1]: str(tmp_path / 'out' / 'frames_b.mov')}
    assert clip_name(str(tmp_path / 'frames_b') + '/') == 'frames_b'
    with pytest.raises(CLIError) as err:
        batch_outputs(['x/a.mp4', 'x/a.avi'], 'out', '.mp4')
    assert str(err.value) == ('x/a.mp4 and x/a.avi would both write '
                              'out/a.mp4; rename one of them')
    with pytest.raises(CLIError, match='would replace it'):
        batch_outputs([str(tmp_path / 'a.mp4')], str(tmp_path), '.mp4')


def test_shard_takes_every_world_size_th_item():
    items = list('abcde')
    assert shard(items, 0, 2) == ['a', 'c', 'e']
    assert shard(items, 1, 2) == ['b', 'd']
    assert sorted(shard(items, 0, 3) + shard(items, 1, 3) +
                  shard(items, 2, 3)) == items
    assert shard(items[:1], 1, 2) == []  # more ranks than inputs
    with pytest.raises(ValueError):
        shard(items, 2, 2)
