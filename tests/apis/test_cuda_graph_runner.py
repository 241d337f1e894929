"""CUDA-graph replay of the streaming inferencer (``compile=True``).

The bookkeeping (static buffers, in-place reference refresh, when to
capture again) runs on the CPU through :class:`EagerReplayRunner`, which
keeps a graph's semantics without CUDA. The real graphs are checked by the
tests marked ``needs_cuda`` (skipped without a GPU):

    pytest tests/apis/test_cuda_graph_runner.py -k cuda -v
"""
import numpy as np
import pytest
import torch

from mmseg_pdnet.apis import VideoPortraitInferencer
from mmseg_pdnet.apis.cuda_graph_runner import (CUDAGraphRunner,
                                                StaticReferenceCache)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason='CUDA graphs need a CUDA device')


class EagerReplayRunner(CUDAGraphRunner):
    """A CUDA graph's semantics on any device: what is "captured" is a
    call on the static buffers, and a "replay" calls again on the static
    buffers ONLY and writes into the captured output tensors. A reference
    not copied into the static buffers is not seen, as by a real graph."""

    def _record(self):
        return self._run_static()

    def _replay(self):
        for key, value in self._run_static().items():
            self._outputs[key].copy_(value)


class FrozenReferenceRunner(EagerReplayRunner):
    """A broken runner that keeps its first reference (what the static
    buffers must prevent): the tests must tell it apart."""

    def set_reference(self, cache):
        if self.reference.buffers is None:
            super().set_reference(cache)


def clip_with_cut(h=48, w=80):
    """Two scenes of three frames (a noise image plus a little noise per
    frame). With refresh_every=2 and scene_cut_threshold=30 the reference
    is renewed at frames 0, 2, 3 (the cut) and 5."""
    rng = np.random.default_rng(0)
    clip = []
    for _ in range(2):
        base = rng.integers(0, 246, (h, w, 3))
        clip += [(base + rng.integers(0, 10, (h, w, 3))).astype(np.uint8)
                 for _ in range(3)]
    return clip


EXPECTED_FLAGS = [True, False, True, True, False, True]


def test_static_reference_is_refreshed_in_place():
    cache = StaticReferenceCache()
    first = dict(key=torch.randn(1, 3, 4, 5), value=torch.randn(1, 3, 4, 5))
    assert cache.update(first) is True  # allocated
    assert all(cache.buffers[k] is not v for k, v in first.items())
    ptrs = {k: v.data_ptr() for k, v in cache.buffers.items()}
    second = {k: torch.randn_like(v) for k, v in first.items()}
    assert cache.update(second) is False  # refreshed in place
    assert {k: v.data_ptr() for k, v in cache.buffers.items()} == ptrs
    for key, value in second.items():
        assert torch.equal(cache.buffers[key], value)
    # another layout reallocates: a graph on the old buffers is stale
    assert cache.update(dict(key=torch.randn(1, 3, 4, 6),
                             value=torch.randn(1, 3, 4, 6))) is True
    assert cache.update(dict(key=torch.randn(1, 3, 4, 6).double(),
                             value=torch.randn(1, 3, 4, 6))) is True
    assert cache.update(dict(key=torch.randn(1, 3, 4, 6))) is True


def test_runner_captures_once_per_layout():
    def fn(x, ref, size):
        return dict(out=(x * ref['key']).sum(-1, keepdim=True).repeat(
            1, size))

    runner = EagerReplayRunner(fn)
    with pytest.raises(RuntimeError, match='set_reference'):
        runner(torch.ones(2, 3))
    ref = dict(key=torch.randn(2, 3))
    runner.set_reference(ref)
    x = torch.randn(2, 3)
    out = runner(x, size=4)
    assert torch.equal(out['out'], fn(x, ref, 4)['out'])
    # a new reference of the same layout: same graph, new result
    new_ref = dict(key=torch.randn(2, 3))
    runner.set_reference(new_ref)
    out2 = runner(x, size=4)
    assert out2['out'] is out['out']  # the graph's static output
    assert torch.equal(out2['out'], fn(x, new_ref, 4)['out'])
    assert runner.num_captures == 1
    runner(x, size=5)  # a new constant
    assert runner.num_captures == 2
    # other strides are copied into the static input: no new capture
    strided = torch.randn(1, 3).expand(2, 3)
    out = runner(strided, size=5)
    assert torch.equal(out['out'], fn(strided, new_ref, 5)['out'])
    assert runner.num_captures == 2
    runner.set_reference(dict(key=torch.randn(2, 3).double()))
    runner(x.double(), size=5)  # new reference layout, new input dtype
    assert runner.num_captures == 3


@pytest.fixture(scope='module')
def eager(tiny_model_files):
    cfg, ckpt = tiny_model_files
    return VideoPortraitInferencer(cfg, ckpt, device='cpu', refresh_every=2,
                                   scene_cut_threshold=30)


def test_inferencer_replays_with_the_current_reference(tiny_model_files,
                                                       eager):
    """The inferencer's wiring with graph semantics: the reference is
    copied into the static buffers at every renewal (refresh_every, scene
    cut), one capture serves the stream, a new frame size captures again;
    results equal the eager inferencer's exactly."""
    cfg, ckpt = tiny_model_files
    graph = VideoPortraitInferencer(cfg, ckpt, device='cpu', refresh_every=2,
                                    scene_cut_threshold=30)
    graph._runner = runner = EagerReplayRunner(graph._target_step)
    clip = clip_with_cut()
    ptrs = set()
    results = []
    for res in graph(clip, return_parts=True):
        results.append(res)
        ptrs.add(runner.reference.buffers['key'].data_ptr())
    assert [r.new_reference for r in results] == EXPECTED_FLAGS
    assert len(ptrs) == 1 and runner.num_captures == 1
    for res, ref in zip(results, eager(clip, return_parts=True)):
        assert np.array_equal(res.prob, ref.prob)
        assert np.array_equal(res.parts, ref.parts)
    # a stream of another frame size: the output size is baked in
    small = clip_with_cut(h=40, w=50)
    for res, ref in zip(graph(small), eager(small)):
        assert res.prob.shape == (40, 50)
        assert np.array_equal(res.prob, ref.prob)
    assert runner.num_captures == 2


def test_a_stale_reference_would_be_caught(tiny_model_files, eager):
    """The comparison above is sensitive to a graph reading an old
    reference: a runner that keeps the first one differs after the first
    renewal."""
    cfg, ckpt = tiny_model_files
    stale = VideoPortraitInferencer(cfg, ckpt, device='cpu', refresh_every=2,
                                    scene_cut_threshold=30)
    stale._runner = FrozenReferenceRunner(stale._target_step)
    clip = clip_with_cut()
    diffs = [np.abs(res.prob - ref.prob).max()
             for res, ref in zip(stale(clip), eager(clip))]
    assert diffs[:2] == [0, 0] and min(diffs[2:]) > 0


@needs_cuda
@pytest.mark.parametrize('amp,channels_last,tol', [(False, False, 1e-5),
                                                   ('fp16', True, 1e-3)])
def test_cuda_graph_replay_equals_eager(tiny_model_files, amp, channels_last,
                                        tol):
    """Real CUDA graphs: replay equals the eager forward within 1e-5
    (float32) / 1e-3 (fp16) across reference renewals and a frame size
    change; one capture per frame size; frames staged in pinned memory."""
    cfg, ckpt = tiny_model_files
    kwargs = dict(device='cuda', refresh_every=2, scene_cut_threshold=30,
                  amp=amp, channels_last=channels_last)
    eager_gpu = VideoPortraitInferencer(cfg, ckpt, **kwargs)
    graph = VideoPortraitInferencer(cfg, ckpt, compile=True, **kwargs)
    runner = graph._runner
    assert isinstance(runner, CUDAGraphRunner)
    for clip, captures in ((clip_with_cut(), 1),
                           (clip_with_cut(h=40, w=50), 2)):
        ptrs, results = set(), []
        for res in graph(clip, return_parts=True):
            results.append(res)
            ptrs.add(runner.reference.buffers['key'].data_ptr())
        assert [r.new_reference for r in results] == EXPECTED_FLAGS
        assert len(ptrs) == 1 and runner.num_captures == captures
        for res, ref in zip(results, eager_gpu(clip, return_parts=True)):
            assert res.prob.shape == clip[0].shape[:2]
            assert np.abs(res.prob - ref.prob).max() <= tol
            assert np.abs(res.parts - ref.parts).max() <= tol
    assert graph._upload._host.is_pinned()


@needs_cuda
def test_cuda_eager_equals_cpu(tiny_model_files, eager):
    """The device path (pinned upload, normalisation and resize on the GPU)
    gives the CPU's probabilities."""
    cfg, ckpt = tiny_model_files
    gpu = VideoPortraitInferencer(cfg, ckpt, device='cuda', refresh_every=2,
                                  scene_cut_threshold=30)
    clip = clip_with_cut()
    for res, ref in zip(gpu(clip), eager(clip)):
        assert np.abs(res.prob - ref.prob).max() <= 1e-4
