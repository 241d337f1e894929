# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Streaming video inference with a cached reference frame."""
import copy
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from torch import nn

from ..utils.checkpoint import load_state_dict_checked
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

    Args:
        model (str | Config | nn.Module): Config path/object or a model.
        checkpoint (str, optional): Checkpoint to load, through the
            package's allow-listing loader; it must fit the model
            (:func:`~mmseg_pdnet.utils.load_state_dict_checked`).
        device (str, optional): ``'cpu'``, ``'cuda'``, ... Defaults to CUDA
            when available.
        input_size (tuple, optional): Model input ``(H, W)``; frames are
            resized to it (aspect not kept, as in training) and results
            resized back. Defaults to the config's test resize or 480x480.
        refresh_every (int, optional): Renew the reference every N frames.
        scene_cut_threshold (float, optional): Renew on a scene cut.
        threshold (float): Mask threshold on the probability. Default 0.5.
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
    """

    AMP_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}

    def __init__(self,
                 model: Union[str, Config, nn.Module],
                 checkpoint: Optional[str] = None,
                 device: Optional[str] = None,
                 input_size: Optional[Tuple[int, int]] = None,
                 refresh_every: Optional[int] = None,
                 scene_cut_threshold: Optional[float] = None,
                 threshold: float = 0.5,
                 amp: Union[bool, str] = False,
                 channels_last: bool = False,
                 strict: bool = True):
        net, cfg = _load_model(model, checkpoint, strict)
        device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        self.device = torch.device(device)
        self.model = net.to(self.device).eval()
        self.amp_dtype = self._amp_dtype(amp, self.device)
        self.memory_format = torch.contiguous_format
        if channels_last:  # a model passed in is left as it is otherwise
            self.memory_format = torch.channels_last
            self.model.to(memory_format=self.memory_format)
        if not hasattr(self.model, 'encode_reference'):
            raise TypeError('VideoPortraitInferencer needs a PDNet model '
                            '(encode_reference / forward_target)')
        if self.model.num_refs != 1:
            raise ValueError('streaming inference supports one reference '
                             f'frame, the model has {self.model.num_refs}')
        self.input_size = tuple(input_size or self._cfg_size(cfg))
        if refresh_every is not None and refresh_every < 1:
            raise ValueError(f'refresh_every must be >= 1, got '
                             f'{refresh_every}')
        self.refresh_every = refresh_every
        self.scene_cut_threshold = scene_cut_threshold
        self.threshold = threshold

    @classmethod
    def _amp_dtype(cls, amp: Union[bool, str],
                   device: torch.device) -> Optional[torch.dtype]:
        if amp is False or amp is None:
            return None
        if amp is True:
            return torch.float16 if device.type == 'cuda' \
                else torch.bfloat16
        if amp not in cls.AMP_DTYPES:
            raise ValueError(f"amp must be True, False, 'fp16' or 'bf16', "
                             f'got {amp!r}')
        return cls.AMP_DTYPES[amp]

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype,
                              enabled=self.amp_dtype is not None)

    @staticmethod
    def _cfg_size(cfg: Optional[Config]) -> Tuple[int, int]:
        try:
            for step in cfg.test_dataloader.dataset.pipeline:
                if step['type'] == 'PairedResize':
                    s = step.get('scale', 480)
                    return (s, s) if isinstance(s, int) else tuple(s)
        except (AttributeError, KeyError, TypeError):
            pass
        return (480, 480)

    def _to_tensor(self, frame: np.ndarray) -> torch.Tensor:
        h, w = self.input_size
        x = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
        x = torch.from_numpy(x.transpose(2, 0, 1).copy())[None]
        x = self.model.data_preprocessor.normalize_frames(x)
        return x.contiguous(memory_format=self.memory_format)

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
        for index, frame in enumerate(frames):
            frame = as_bgr_frame(frame, index)
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                raise ValueError(f'frame {index}: size {frame.shape[:2]} '
                                 f'differs from the first frame {size}')
            x = self._to_tensor(frame)
            renew = cache is None or (
                self.refresh_every is not None
                and since_ref >= self.refresh_every) or (
                    prev is not None and self.is_scene_cut(prev, frame))
            with self._autocast():
                if renew:
                    cache, since_ref = self.model.encode_reference(x), 0
                out = self.model.forward_target(x, cache)
            since_ref += 1
            prev = frame
            prob = out['seg_logit'].float().sigmoid()[0, 0].cpu().numpy()
            prob = cv2.resize(prob, (size[1], size[0]),
                              interpolation=cv2.INTER_LINEAR)
            parts = None
            if return_parts and 'parts' in out:
                parts = out['parts'][0].float().cpu().numpy()
            yield FrameResult(
                index=index, frame=frame,
                mask=(prob > self.threshold).astype(np.uint8),
                prob=prob if return_prob else None, parts=parts,
                new_reference=renew)
