# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Streaming video inference with a cached reference frame."""
import copy
from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from torch import nn

from ..models.utils import fuse_conv_bn, resize_bilinear
from ..utils.amp import amp_dtype
from ..utils.checkpoint import load_state_dict_checked
from .cuda_graph_runner import CUDAGraphRunner
from .guided_upsampling import GuidedUpsampler, build_upsampler
from .preprocessing import FrameUploader, StreamPreprocessor
from .temporal_filter import TemporalFilter, build_temporal_filter
from .video_io import FrameSource, as_bgr_frame, open_source


@dataclass
class FrameResult:
    """Result of one frame.

    Attributes:
        index (int): Frame index in the stream.
        frame (np.ndarray): The input frame ``(H, W, 3)`` BGR.
        mask (np.ndarray): ``(H, W)`` uint8 0/1 portrait mask.
        prob (np.ndarray, optional): ``(H, W)`` float32 probability.
        parts (np.ndarray, optional): ``(p, h, w)`` part maps R_t^k at
            the IPDA resolution.
        new_reference (bool): Whether this frame became the reference.
    """
    index: int
    frame: np.ndarray
    mask: np.ndarray
    prob: Optional[np.ndarray] = None
    parts: Optional[np.ndarray] = None
    new_reference: bool = False


def _load_model(model: Union[str, Config, nn.Module],
                checkpoint: Optional[str],
                strict: bool = True) -> Tuple[nn.Module, Config]:
    if isinstance(model, nn.Module):
        # folding BN changes the structure: leave the caller's model alone
        model = copy.deepcopy(model)
        if checkpoint is not None:
            load_state_dict_checked(model, checkpoint, strict=strict)
        return model, None
    cfg = Config.fromfile(model) if isinstance(model, str) else \
        copy.deepcopy(model)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    import mmseg_pdnet  # noqa: F401  (registers the plugin)
    model_cfg = cfg.model
    # inference needs neither pretrained weights nor the training losses
    model_cfg.backbone.backbone.pop('init_cfg', None)
    model_cfg.backbone.backbone.pop('pretrained', None)
    model_cfg.part_loss = None
    net = MODELS.build(model_cfg)
    if checkpoint is not None:
        # through the allow-list; the part basis (part_loss.*) is skipped
        load_state_dict_checked(
            net, checkpoint, strict=strict,
            config=model if isinstance(model, str) else cfg.filename)
    return net, cfg


class VideoPortraitInferencer:
    """Segment portraits in a video stream with PDNet.

    In the style of MMSeg's ``MMSegInferencer``: built from a config (path
    or :class:`Config`) and a checkpoint, or from a ready model. Calling it
    on a source (video file, folder of frames, camera index, list or any
    iterable of BGR frames) yields one :class:`FrameResult` per frame while
    streaming.

    The reference frame (the first frame by default) is encoded ONCE
    (:meth:`PDNet.encode_reference`) and every following frame reuses the
    cached IPDA keys/values (:meth:`PDNet.forward_target`): only the target
    goes through the Siamese encoder. The result equals the paired forward.
    The reference is renewed every ``refresh_every`` frames, and/or when
    the scene cut detector fires: the mean absolute difference between
    consecutive frames, downscaled to 64x36 grayscale, above
    ``scene_cut_threshold`` (0-255 scale; 30 separates cuts from motion on
    typical footage).

    Frames are preprocessed as ``tools/test.py`` does, from the config:
    the test pipeline's ``PairedResize`` (on the CPU, OpenCV), then the
    model's data preprocessor (BGR -> RGB, mean/std, on the device). The
    probabilities follow ``PDNet.predict`` (the authors' protocol): the
    stride-4 logits are resized bilinearly (``align_corners=True``)
    straight to the frame size on the device, then sigmoid. BN layers are
    folded into their convolutions
    (:func:`~mmseg_pdnet.models.utils.fuse_conv_bn`).

    Two optional post-processing steps, both off by default and both on
    the device: ``upsampling='guided'`` replaces the bilinear resize to the
    frame by a fast guided filter (:class:`GuidedUpsampler`): the
    probability at the input size is upsampled along the frame's own edges
    (soft, sharp edges at full resolution). ``temporal_filter=True``
    smooths the probability over time where the picture is still and the
    prediction unsure (:class:`TemporalFilter`: less flicker, no lag on
    moving edges); it restarts at every new reference and stream.
    ``tools/analysis_tools/postprocessing_eval.py`` measures both (J, F,
    temporal stability) on a config's test clips.

    Args:
        model (str | Config | nn.Module): Config path/object or a model. A
            model passed in is copied: folding BN changes its structure.
        checkpoint (str, optional): Checkpoint to load, through the
            package's allow-listing loader; it must fit the model
            (:func:`~mmseg_pdnet.utils.load_state_dict_checked`). The
            authors' checkpoints (iCVTEAM/PDNet) are converted in memory.
        device (str, optional): ``'cpu'``, ``'cuda'``, ... Defaults to CUDA
            when available.
        input_size (tuple, optional): Model input ``(H, W)``; frames are
            resized to it (aspect not kept, as in training) and results
            resized back. Defaults to the scale of the ``PairedResize``
            step of the config's test pipeline; a config without one, or a
            model passed as a module, needs it (ValueError otherwise).
        refresh_every (int, optional): Renew the reference every N frames.
        scene_cut_threshold (float, optional): Renew on a scene cut.
        threshold (float, optional): Mask threshold on the probability.
            Defaults to the model's ``decode_head.threshold`` (0.5), as
            ``tools/test.py``.
        amp (bool | str): Run the network under ``torch.autocast``:
            ``'fp16'``, ``'bf16'``, True (fp16 on CUDA, bf16 elsewhere) or
            False (float32, the default). Probabilities stay within
            docs/performance.md's AMP tolerance of float32.
        channels_last (bool): Weights and frames in
            ``torch.channels_last`` (faster convolutions with AMP on
            CUDA). Defaults to False.
        strict (bool): Refuse a checkpoint whose keys or shapes do not
            match the model (:class:`~mmseg_pdnet.utils.CheckpointError`).
            False loads the weights that fit and logs the rest. Defaults to
            True.
        compile (bool): Replay each target frame's forward (normalisation,
            network, resize, sigmoid) as a CUDA graph
            (:class:`CUDAGraphRunner`); the reference is encoded eagerly
            and copied into the graph's static buffers in place. CUDA only
            (ValueError on other devices). Captured again when the frame
            size changes. With it, run one stream at a time per inferencer
            (the graph's buffers are shared). Defaults to False.
        upsampling (str | dict | GuidedUpsampler): From the model's
            resolution to the frame: ``'bilinear'`` (the logits resized
            straight to the frame, as ``PDNet.predict``; the default),
            ``'guided'`` (:class:`GuidedUpsampler` with its defaults), a
            dict of :class:`GuidedUpsampler` arguments or an instance.
        temporal_filter (bool | dict | TemporalFilter, optional): Filter
            the probability stream: None/False (off, the default), True
            (:class:`TemporalFilter` defaults), a dict of its arguments or
            an instance (used as settings: each stream gets its own state).
            Streams only: :meth:`segment_with` is a single frame.
    """

    def __init__(self,
                 model: Union[str, Config, nn.Module],
                 checkpoint: Optional[str] = None,
                 device: Optional[str] = None,
                 input_size: Optional[Tuple[int, int]] = None,
                 refresh_every: Optional[int] = None,
                 scene_cut_threshold: Optional[float] = None,
                 threshold: Optional[float] = None,
                 amp: Union[bool, str] = False,
                 channels_last: bool = False,
                 strict: bool = True,
                 compile: bool = False,
                 upsampling: Union[str, dict, GuidedUpsampler] = 'bilinear',
                 temporal_filter: Union[None, bool, dict,
                                        TemporalFilter] = None):
        device = torch.device(
            device or ('cuda' if torch.cuda.is_available() else 'cpu'))
        if compile and device.type != 'cuda':
            # checked first: nothing is built for an option that cannot run
            raise ValueError('compile=True replays CUDA graphs, which need a '
                             f"CUDA device; got device '{device}'")
        if refresh_every is not None and refresh_every < 1:
            raise ValueError(f'refresh_every must be >= 1, got '
                             f'{refresh_every}')
        # checked before the model is built, as compile
        self.upsampler = build_upsampler(upsampling)
        self.temporal_filter = build_temporal_filter(temporal_filter)
        net, cfg = _load_model(model, checkpoint, strict)
        if not hasattr(net, 'encode_reference'):
            raise TypeError('VideoPortraitInferencer needs a PDNet model '
                            '(encode_reference / forward_target)')
        if net.num_refs != 1:
            raise ValueError('streaming inference supports one reference '
                             f'frame, the model has {net.num_refs}')
        self.device = device
        self.model = fuse_conv_bn(net.to(self.device).eval())
        self.amp_dtype = amp_dtype(amp, self.device)
        self.memory_format = torch.contiguous_format
        if channels_last:
            self.memory_format = torch.channels_last
            self.model.to(memory_format=self.memory_format)
        self.preprocessor = StreamPreprocessor.from_config(
            cfg, self.model.data_preprocessor, input_size)
        self.input_size = self.preprocessor.input_size
        self._upload = FrameUploader(self.device)
        # the full-size frame, for the guided upsampling (its own buffers:
        # the model-size frame is still in use)
        self._upload_full = FrameUploader(self.device)
        self.refresh_every = refresh_every
        self.scene_cut_threshold = scene_cut_threshold
        self.threshold = threshold if threshold is not None else \
            float(getattr(self.model.decode_head, 'threshold', 0.5))
        self._runner = CUDAGraphRunner(self._target_step) if compile \
            else None

    def _autocast(self):
        # no cast cache: under a CUDA graph it would hold the casts of the
        # capture (PyTorch's CUDA graph notes); each weight is cast once
        # per frame anyway
        return torch.autocast(self.device.type, dtype=self.amp_dtype,
                              enabled=self.amp_dtype is not None,
                              cache_enabled=False)

    def preprocess(self, frame: np.ndarray) -> torch.Tensor:
        """The network input of a frame, as ``tools/test.py`` makes it.

        Args:
            frame (np.ndarray): ``(H0, W0, 3)`` uint8 BGR frame.

        Returns:
            Tensor: ``(1, 3, H, W)`` normalised float32 frame on the device,
            ``(H, W)`` = :attr:`input_size`.
        """
        return self.preprocessor.normalize(self._uploaded(frame),
                                           self.memory_format)

    def _uploaded(self, frame: np.ndarray) -> torch.Tensor:
        """A BGR frame resized to the input size, as ``(1, 3, H, W)``
        on the device (uint8, or float32: the test pipeline's dtype)."""
        return self._upload(self.preprocessor.resize(frame))

    def _encode_reference(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """IPDA cache of an uploaded ``(1, 3, H, W)`` frame."""
        with self._autocast():
            return self.model.encode_reference(
                self.preprocessor.normalize(x, self.memory_format))

    def _target_step(self, x: torch.Tensor, cache: Dict[str, torch.Tensor],
                     size: Tuple[int, int]) -> Dict[str, torch.Tensor]:
        """Probabilities of an uploaded frame; what a CUDA graph replays.

        Args:
            x (Tensor): ``(1, 3, H, W)`` BGR frame at the input size
                (uint8, or float32: the test pipeline's dtype).
            cache (dict): The reference cache.
            size (tuple[int, int]): The size of the probabilities: the
                original frame size ``(H0, W0)``, or the input size
                ``(H, W)`` (for the guided upsampling, :meth:`_step_size`).

        Returns:
            dict[str, Tensor]: ``prob`` ``(1, 1, *size)`` float32 and,
            with IPDA, ``parts`` ``(1, p, H/16, W/16)`` float32.
        """
        # as PDNet.predict: the stride-4 logits are resized straight to
        # the original frame size (one resize), then sigmoid
        with self._autocast():
            out = self.model.forward_target(
                self.preprocessor.normalize(x, self.memory_format), cache,
                size=None)
        prob = resize_bilinear(out['seg_logit'].float(), size).sigmoid()
        result = dict(prob=prob)
        if 'parts' in out:
            result['parts'] = out['parts'].float()
        return result

    @torch.no_grad()
    def encode_reference_frame(
            self, reference: np.ndarray) -> Dict[str, torch.Tensor]:
        """The reference cache of a frame of your choice, for
        :meth:`segment_with` (outside any stream).

        Args:
            reference (np.ndarray): ``(H1, W1, 3)`` uint8 BGR frame, any
                size (resized to the input size).

        Returns:
            dict[str, Tensor]: the IPDA keys/values (empty without IPDA).
        """
        return self._encode_reference(
            self._uploaded(as_bgr_frame(reference, 'reference')))

    @torch.no_grad()
    def segment_with(self, frame: np.ndarray,
                     cache: Dict[str, torch.Tensor]) -> np.ndarray:
        """Probabilities of one frame against a reference cache from
        :meth:`encode_reference_frame`; one cache serves many frames
        (``tools/analysis_tools/reference_sensitivity.py`` swaps
        references this way).

        Args:
            frame (np.ndarray): ``(H0, W0, 3)`` uint8 BGR target frame.
            cache (dict): :meth:`encode_reference_frame` output.

        Returns:
            np.ndarray: ``(H0, W0)`` float32 foreground probabilities, as
            the stream gives for the same pair.
        """
        frame = as_bgr_frame(frame, 'target')
        out = self._target_step(self._uploaded(frame), cache,
                                self._step_size(frame))
        prob = self._upsampled(out['prob'], frame)
        return prob[0, 0].to('cpu', copy=True).numpy()

    def _step_size(self, frame: np.ndarray) -> Tuple[int, int]:
        """The size :meth:`_target_step` resizes the logits to: the
        frame's, or the input size, from which the guided upsampling
        goes on."""
        if self.upsampler is not None:
            return tuple(self.input_size)
        return tuple(int(v) for v in frame.shape[:2])

    def _upsampled(self, prob: torch.Tensor,
                   frame: np.ndarray) -> torch.Tensor:
        """The probabilities at the frame size.

        Args:
            prob (Tensor): ``(1, 1, h, w)`` from :meth:`_target_step` at
                :meth:`_step_size`.
            frame (np.ndarray): ``(H0, W0, 3)`` uint8 BGR frame, the guide
                (uploaded whole; its low-resolution version is its
                antialiased downsampling, which followed the frame's edges
                better on the demo clips than the network's own input).

        Returns:
            Tensor: ``(1, 1, H0, W0)`` float32 on the device (``prob``
            itself with bilinear upsampling).
        """
        if self.upsampler is None:
            return prob
        return self.upsampler(prob, self._upload_full(frame))

    def segment_pair(self, frame: np.ndarray,
                     reference: np.ndarray) -> np.ndarray:
        """:meth:`segment_with` against :meth:`encode_reference_frame`
        ``(reference)``: one frame, one reference of your choice.

        Returns:
            np.ndarray: ``(H0, W0)`` float32 foreground probabilities.
        """
        return self.segment_with(frame, self.encode_reference_frame(reference))

    @staticmethod
    def _thumbnail(frame: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        return cv2.resize(gray, (64, 36), interpolation=cv2.INTER_AREA
                          ).astype(np.float32)

    def is_scene_cut(self, prev: np.ndarray, cur: np.ndarray) -> bool:
        """Mean absolute difference of 64x36 grayscale thumbnails."""
        if self.scene_cut_threshold is None:
            return False
        diff = np.abs(self._thumbnail(prev) - self._thumbnail(cur)).mean()
        return bool(diff > self.scene_cut_threshold)

    @torch.no_grad()
    def __call__(self, source: FrameSource, return_prob: bool = True,
                 return_parts: bool = False) -> Iterator[FrameResult]:
        """Stream results frame by frame.

        Args:
            source: see :func:`open_source`.
            return_prob (bool): Include probabilities. Defaults to True.
            return_parts (bool): Include part maps. Defaults to False.

        Yields:
            FrameResult: one per input frame.
        """
        frames, _, _ = open_source(source)
        cache, size, prev, since_ref = None, None, None, 0
        # this stream's own filter state
        smoother = self.temporal_filter.fresh() \
            if self.temporal_filter is not None else None
        for index, frame in enumerate(frames):
            frame = as_bgr_frame(frame, index)
            if size is None:
                size = tuple(int(v) for v in frame.shape[:2])
            elif frame.shape[:2] != size:
                raise ValueError(f'frame {index}: size {frame.shape[:2]} '
                                 f'differs from the first frame {size}')
            x = self._uploaded(frame)
            renew = cache is None or (
                self.refresh_every is not None
                and since_ref >= self.refresh_every) or (
                    prev is not None and self.is_scene_cut(prev, frame))
            if renew:
                cache, since_ref = self._encode_reference(x), 0
                if self._runner is not None:
                    # in place: the captured graph reads the new reference
                    self._runner.set_reference(cache)
                if smoother is not None:
                    # another reference (or scene): its past does not apply
                    smoother.reset()
            step_size = self._step_size(frame)
            if self._runner is not None:
                out = self._runner(x, size=step_size)
            else:
                out = self._target_step(x, cache, step_size)
            prob = self._upsampled(out['prob'], frame)
            if smoother is not None:
                prob = smoother(prob, x)
            since_ref += 1
            prev = frame
            # copies: a graph's outputs are overwritten by the next replay
            prob = prob[0, 0].to('cpu', copy=True).numpy()
            parts = None
            if return_parts and 'parts' in out:
                parts = out['parts'][0].to('cpu', copy=True).numpy()
            yield FrameResult(
                index=index, frame=frame,
                mask=(prob > self.threshold).astype(np.uint8),
                prob=prob if return_prob else None, parts=parts,
                new_reference=renew)
