"""The input's audio in the output video: remuxed or transcoded, cut at
the video's end, interleaved; nothing for a silent input or PNGs."""
from fractions import Fraction

import av
import numpy as np
import pytest

from mmseg_pdnet.apis.audio import has_audio
from mmseg_pdnet.apis.video_io import AtomicVideoWriter, open_source

FPS, RATE = 25, 44100


def tone_clip(path, frames=25, audio='aac', delay=0.0):
    """An H.264 clip of ``frames`` frames with a 440 Hz stereo tone from
    ``delay`` seconds to the video's end (no audio with ``audio=None``).
    """
    with av.open(str(path), 'w') as c:
        v = c.add_stream('libx264', rate=FPS)
        v.width, v.height, v.pix_fmt = 64, 48, 'yuv420p'
        if audio:
            a = c.add_stream(audio, rate=RATE)
            a.layout = 'stereo'
        for i in range(frames):
            c.mux(v.encode(av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), 9 * i, np.uint8), format='bgr24')))
        if audio:
            t = np.arange(round(RATE * (frames / FPS - delay))) / RATE
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]),
                                               format='fltp',
                                               layout='stereo')
            frame.sample_rate = RATE
            frame.pts, frame.time_base = round(delay * RATE), \
                Fraction(1, RATE)
            c.mux(a.encode(frame))
            c.mux(a.encode(None))
        c.mux(v.encode(None))
    return str(path)


def run(src, out, limit=None):
    """Decode ``src`` and write its frames (the first ``limit``) to
    ``out`` with its audio."""
    frames, _, fps = open_source(src)
    writer = AtomicVideoWriter(str(out), fps, audio_from=src)
    for i, frame in enumerate(frames):
        if i == limit:
            break
        writer.write(frame)
    frames.close()
    return writer.close()


def span(frames):
    """``(start, end)`` seconds of decoded frames, by their timestamps."""
    frames = list(frames)
    first, last = frames[0], frames[-1]
    length = last.samples / last.sample_rate if hasattr(last, 'samples') \
        else float(last.duration * last.time_base)
    return (float(first.pts * first.time_base),
            float(last.pts * last.time_base) + length)


def streams(path):
    """Video frames, the video's and the audio's ``(start, end)`` seconds
    as decoded, the audio codec and the audio packets' bytes of a file."""
    with av.open(str(path)) as c:
        video = list(c.decode(video=0))
    with av.open(str(path)) as c:
        assert len(c.streams.audio) == 1
        codec = c.streams.audio[0].codec_context.name
        audio = span(c.decode(audio=0))
    with av.open(str(path)) as c:
        packets = [bytes(p) for p in c.demux(audio=0) if p.size]
    return len(video), span(video), audio, codec, packets


def assert_same_duration(video, audio):
    """The audio starts and ends with the video, to within one frame."""
    assert audio[0] == pytest.approx(video[0], abs=1 / FPS)
    assert audio[1] == pytest.approx(video[1], abs=1 / FPS)
    assert audio[1] - audio[0] == pytest.approx(video[1] - video[0],
                                                abs=1 / FPS)


# 15 frames: a --max-frames run. (Into .mkv, AAC's 23 ms of encoder
# priming, which MP4 skips by an edit list, become audible silence at the
# start, as in any FFmpeg remux: the audio is one frame longer there.)
@pytest.mark.parametrize('ext,frames', [('.mp4', 25), ('.mov', 15)])
def test_audio_is_remuxed_and_cut_at_the_video_end(tmp_path, ext, frames):
    src = tone_clip(tmp_path / 'in.mp4')
    out = run(src, tmp_path / f'out{ext}', limit=frames)
    n, video, audio, codec, packets = streams(out)
    assert n == frames and codec == 'aac'
    assert video[1] - video[0] == pytest.approx(frames / FPS)
    assert_same_duration(video, audio)
    # remuxed: the very packets of the input, none re-encoded
    source_packets = streams(src)[4]
    assert packets == source_packets[:len(packets)]
    assert len(packets) < len(source_packets) or frames == 25


def test_audio_is_transcoded_where_the_container_needs(tmp_path):
    src = tone_clip(tmp_path / 'in.mp4')  # AAC, which WebM cannot hold
    out = run(src, tmp_path / 'out.webm', limit=15)
    n, video, audio, codec, _ = streams(out)
    assert n == 15 and codec == 'opus'
    assert video[1] - video[0] == pytest.approx(15 / FPS)
    assert_same_duration(video, audio)
    with av.open(out) as c:  # interleaved: audio before the last video
        kinds = [p.stream.type for p in c.demux() if p.size]
    assert kinds.index('audio') < len(kinds) - kinds[::-1].index('video')
    # the tone survives: its energy is near 440 Hz
    with av.open(out) as c:
        pcm = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
        rate = c.streams.audio[0].rate
    spectrum = np.abs(np.fft.rfft(pcm))
    assert np.fft.rfftfreq(len(pcm), 1 / rate)[spectrum.argmax()] == \
        pytest.approx(440, abs=5)


@pytest.mark.parametrize('ext', ['.mkv', '.webm'])  # remux, transcode
def test_audio_that_starts_late_keeps_its_delay(tmp_path, ext):
    src = tone_clip(tmp_path / 'in.mp4', delay=0.2)
    with av.open(src) as c:  # where the source's first sample is heard
        first = next(c.decode(audio=0))
        expected = float(first.pts * first.time_base)
    assert expected == pytest.approx(0.2, abs=0.03)  # less AAC priming
    out = run(src, tmp_path / f'out{ext}')
    with av.open(out) as c:
        first = next(c.decode(audio=0))
        assert float(first.pts * first.time_base) == pytest.approx(
            expected, abs=0.002)


def test_a_silent_source_and_png_outputs_carry_no_audio(tmp_path):
    silent = tone_clip(tmp_path / 'silent.mp4', audio=None)
    assert not has_audio(silent) and has_audio(tone_clip(tmp_path / 't.mp4'))
    assert not has_audio(str(tmp_path)) and not has_audio(0)
    out = run(silent, tmp_path / 'out.mp4')
    with av.open(out) as c:
        assert not c.streams.audio and c.streams.video[0].frames == 25
    writer = AtomicVideoWriter(str(tmp_path / 'frames'), png=True,
                               audio_from=str(tmp_path / 't.mp4'))
    assert writer.audio_from is None  # documented: PNGs have no audio
    writer.write(np.zeros((8, 8, 3), np.uint8))
    assert sorted(p.name for p in (tmp_path / 'frames').iterdir()) == [] \
        if (tmp_path / 'frames').exists() else True
    assert [p.name for p in
            (tmp_path / 'frames').parent.joinpath(writer.close()).iterdir()
            ] == ['00000.png']


def test_output_with_audio_appears_only_on_success(tmp_path):
    src = tone_clip(tmp_path / 'in.mp4')
    frames, _, fps = open_source(src)
    frames = list(frames)
    writer = AtomicVideoWriter(str(tmp_path / 'out.mp4'), fps,
                               audio_from=src)
    for frame in frames[:10]:
        writer.write(frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        '.out.partial.mp4', 'in.mp4']
    writer.abort()  # e.g. the model failed: nothing is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in.mp4']
