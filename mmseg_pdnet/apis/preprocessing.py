# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Streaming preprocessing built from a config's test pipeline.

The streaming inferencer must feed the network exactly what
``tools/test.py`` feeds it: the test pipeline's geometric steps (the
``PairedResize`` to the model input size), then the model's data
preprocessor (BGR -> RGB, mean/std). Rather than re-implementing them,
:class:`StreamPreprocessor` builds those steps from the config, as
open-cd's and MMSeg's inferencers do, and drops only what a decoded video
frame does not need: the file loading, annotation loading and packing
steps.
"""
import copy
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmseg.registry import TRANSFORMS
from torch import Tensor


def _type_name(step: dict) -> str:
    kind = step.get('type', '')
    return kind if isinstance(kind, str) else getattr(kind, '__name__', '')


def find_test_pipeline(cfg: Config) -> Tuple[Optional[list], str]:
    """The config's test pipeline and where it was found.

    Looks at ``test_dataloader.dataset.pipeline`` (through wrapper datasets
    such as ``RepeatDataset``, which nest a ``dataset``), then at
    ``test_pipeline``.

    Args:
        cfg (Config): A full config.

    Returns:
        tuple: The pipeline (list of step dicts, None when there is none)
        and its key in the config.
    """
    dataset = (cfg.get('test_dataloader', None) or {}).get('dataset', None)
    key = 'test_dataloader.dataset'
    while isinstance(dataset, dict):
        if 'pipeline' in dataset:
            return list(dataset['pipeline']), f'{key}.pipeline'
        dataset, key = dataset.get('dataset', None), f'{key}.dataset'
    if cfg.get('test_pipeline', None) is not None:
        return list(cfg.test_pipeline), 'test_pipeline'
    return None, 'test_dataloader.dataset.pipeline'


class StreamPreprocessor:
    """The test pipeline's frame transforms and the model's normalisation.

    A frame goes through :meth:`resize` on the CPU (the pipeline's steps on
    a ``dict(img=frame, ref_imgs=[])``, exactly as ``LoadPairedImages``'s
    output goes through them in ``tools/test.py``), is uploaded in the
    dtype the steps give (:attr:`input_dtype`: uint8, a quarter of the
    bytes of float32; float32 after ``PairedResize(to_float32=True)``, as
    in the paper configs, whose frames are resized without rounding, as
    the authors') by :class:`FrameUploader` and is normalised on the
    device by :meth:`normalize`, the data preprocessor's own
    :meth:`~PairedSegDataPreProcessor.normalize_frames`.

    Args:
        steps (Sequence[dict]): Test pipeline steps. Loading (``Load*``) and
            packing (``Pack*``) steps are dropped: a stream yields decoded
            BGR frames and there is nothing to pack.
        data_preprocessor (nn.Module): The model's data preprocessor (its
            ``normalize_frames`` converts channels and applies mean/std).
        input_size (tuple[int, int], optional): Model input ``(H, W)``;
            replaces the scale of the pipeline's ``PairedResize`` (one is
            appended when the pipeline has none). Defaults to the size the
            steps give a frame.
        source (str): What the steps come from (config file and key), for
            the messages.

    Raises:
        ValueError: the input size cannot be known (the steps do not give
            every frame the same size, e.g. no ``PairedResize``, and no
            ``input_size``), or a step is random (a random flip of the
            frame would flip the mask of the stream).
    """

    SKIPPED_PREFIXES = ('Load', 'Pack')

    def __init__(self,
                 steps: Sequence[dict],
                 data_preprocessor,
                 input_size: Optional[Tuple[int, int]] = None,
                 source: str = 'the test pipeline'):
        self.source = source
        self.data_preprocessor = data_preprocessor
        kept = [copy.deepcopy(dict(s)) for s in steps
                if not _type_name(s).startswith(self.SKIPPED_PREFIXES)]
        for step in kept:
            if 'Random' in _type_name(step):
                raise ValueError(
                    f'{source}: step {_type_name(step)} is random; streaming '
                    'inference needs a deterministic test pipeline')
        if input_size is not None:
            h, w = int(input_size[0]), int(input_size[1])
            resizes = [s for s in kept if _type_name(s) == 'PairedResize']
            for step in resizes:
                step['scale'] = (w, h)  # PairedResize's scale is (w, h)
            if not resizes:
                kept.append(dict(type='PairedResize', scale=(w, h)))
        self.transforms = Compose([TRANSFORMS.build(s) for s in kept])
        # The input size is what the steps make of a frame, read from two
        # probe frames rather than from a step's arguments: no convention
        # of theirs ((w, h) or (h, w)) is assumed, and a size that follows
        # the frame (no resize, or one keeping the aspect ratio) shows.
        outputs = [self._apply(np.zeros(shape, np.uint8))
                   for shape in ((60, 90, 3), (90, 60, 3))]
        probes = {out.shape[:2] for out in outputs}
        #: what the steps hand the network: uint8, or float32 frames
        #: resized without rounding (``PairedResize(to_float32=True)``)
        self.input_dtype = outputs[0].dtype
        if len(probes) != 1:
            raise ValueError(
                f'{source}: cannot tell the model input size: the steps do '
                'not resize frames to a fixed size (no PairedResize step?); '
                'add one to the test pipeline or pass input_size=(H, W)')
        self.input_size: Tuple[int, int] = tuple(probes.pop())
        if input_size is not None and self.input_size != (h, w):
            raise ValueError(f'{source}: the steps resize frames to '
                             f'{self.input_size}, not input_size {(h, w)}')

    @classmethod
    def from_config(cls,
                    cfg: Optional[Config],
                    data_preprocessor,
                    input_size: Optional[Tuple[int, int]] = None
                    ) -> 'StreamPreprocessor':
        """Build from a config's test pipeline.

        Args:
            cfg (Config, optional): The model's config; None for a model
                passed as a module, which then needs ``input_size``.
            data_preprocessor (nn.Module): The model's data preprocessor.
            input_size (tuple[int, int], optional): Overrides the
                pipeline's resize.

        Returns:
            StreamPreprocessor: The preprocessing of the stream.
        """
        if cfg is None:
            if input_size is None:
                raise ValueError(
                    'a model passed as a module has no config to read the '
                    'input size from: pass input_size=(H, W)')
            return cls([], data_preprocessor, input_size,
                       source='input_size')
        steps, key = find_test_pipeline(cfg)
        name = cfg.filename or '<config>'
        return cls(steps or [], data_preprocessor, input_size,
                   source=f'{name} ({key})')

    def resize(self, frame: np.ndarray) -> np.ndarray:
        """Apply the pipeline's frame steps to one frame.

        Args:
            frame (np.ndarray): ``(H0, W0, 3)`` uint8 BGR frame.

        Returns:
            np.ndarray: ``(H, W, 3)`` frame at :attr:`input_size`, in the
            pipeline's output dtype (:attr:`input_dtype`).
        """
        img = self._apply(frame)
        if tuple(img.shape[:2]) != self.input_size:
            raise ValueError(
                f'{self.source}: the pipeline turned a {frame.shape[:2]} '
                f'frame into {img.shape[:2]}, not the input size '
                f'{self.input_size}')
        return img

    def _apply(self, frame: np.ndarray) -> np.ndarray:
        shape = frame.shape[:2]
        return self.transforms(
            dict(img=frame, ref_imgs=[], img_shape=shape,
                 ori_shape=shape))['img']

    def normalize(self, frames: Tensor,
                  memory_format=torch.contiguous_format) -> Tensor:
        """Normalise uploaded frames as the data preprocessor does.

        Args:
            frames (Tensor): ``(B, 3, H, W)`` frames (uint8 or float) in the
                loader's channel order (BGR).
            memory_format (torch.memory_format): Layout of the result.

        Returns:
            Tensor: ``(B, 3, H, W)`` float32 network input on the data
            preprocessor's device.
        """
        x = self.data_preprocessor.normalize_frames(frames)
        return x.contiguous(memory_format=memory_format)


class FrameUploader:
    """Move ``(H, W, 3)`` frames to the device as ``(1, 3, H, W)``.

    On CUDA the frame is staged in a pinned (page-locked) host buffer and
    copied with ``non_blocking=True``: the copy is a DMA that does not
    block the host, and the pinned buffer saves the driver's own staging
    copy. The buffers are reused from frame to frame; before the host
    buffer is overwritten, the previous copy out of it is waited for (an
    event), since an asynchronous copy reads the host memory later.

    Args:
        device (str | torch.device): The target device.
    """

    def __init__(self, device: Union[str, torch.device]):
        self.device = torch.device(device)
        self._host: Optional[Tensor] = None
        self._dev: Optional[Tensor] = None
        self._copied = None

    def __call__(self, frame: np.ndarray) -> Tensor:
        """Upload one frame.

        Args:
            frame (np.ndarray): ``(H, W, C)`` array (uint8 as a rule).

        Returns:
            Tensor: ``(1, C, H, W)`` view of the frame on the device. On
            CUDA it is a reused buffer: valid until the next call (later
            work on the same stream is ordered after the copy).
        """
        src = torch.from_numpy(np.ascontiguousarray(frame))
        if self.device.type != 'cuda':
            return src.to(self.device).permute(2, 0, 1)[None]
        if self._host is None or self._host.shape != src.shape or \
                self._host.dtype != src.dtype:
            self._host = torch.empty(src.shape, dtype=src.dtype,
                                     pin_memory=True)
            self._dev = torch.empty(src.shape, dtype=src.dtype,
                                    device=self.device)
            self._copied = torch.cuda.Event()
        else:
            self._copied.synchronize()
        self._host.copy_(src)
        self._dev.copy_(self._host, non_blocking=True)
        self._copied.record(torch.cuda.current_stream(self.device))
        return self._dev.permute(2, 0, 1)[None]
