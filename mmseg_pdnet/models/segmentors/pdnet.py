# Copyright (c) mmseg-pdnet contributors. All rights reserved.
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from ..utils import resize_bilinear


@MODELS.register_module()
class PDNet(BaseSegmentor):
    """Part-Decoupling Network for video portrait segmentation (paper sec. 4).

    Paper: T. Yu, C. Xia, J. Li, "Towards Imbalanced Motion: Part-Decoupling
    Network for Video Portrait Segmentation", Science China Information
    Sciences (https://arxiv.org/abs/2307.16565). Section and equation
    numbers in this package refer to it.

    A Siamese encoder turns the target frame I_t and the reference frame(s)
    I_ref into appearance features A (sec. 4.1); the IPDA neck decouples
    them into parts and extracts the part-wise motion feature M_t (sec. 4.2,
    eq. 1-2); the fusion head fuses A_t and M_t and predicts a one-channel
    mask (sec. 4.3). Training adds deep supervision on the encoder levels
    and saliency maps, and the self-supervised part losses (sec. 4.4).

    ``inputs`` are ``(B, 3 * (1 + R), H, W)``: target first, then R
    reference frames (see :class:`PairedSegDataPreProcessor`). For streaming
    inference, :meth:`encode_reference` computes the reference side once
    and :meth:`forward_target` reuses it for every target frame.

    Args:
        backbone (dict): :class:`SiameseEncoder` config.
        decode_head (dict): :class:`PDFusionHead` config.
        neck (dict, optional): :class:`IPDA` config; required when
            ``use_ipda``.
        part_loss (dict, optional): :class:`PartDecouplingLoss` config.
            Ignored (part losses off) when the IPDA has one part, as in the
            paper's table 4, or without IPDA.
        use_ipda (bool): False gives the "without IPDA and fusion" ablation
            of paper table 3. Defaults to True.
        train_cfg (dict, optional): ``side_weight`` (0.8) weights the
            target's side and part losses, ``ref_weight`` (0.64) those of
            the reference frame(s), averaged over references.
        test_cfg (dict, optional): Nothing to set: inference is always
            whole-image, and the mask threshold is the decode head's
            ``threshold`` (MMSeg's one-channel rule), its only source.
        data_preprocessor (dict, optional): :class:`PairedSegDataPreProcessor`
            config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 neck: Optional[dict] = None,
                 part_loss: Optional[dict] = None,
                 use_ipda: bool = True,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.use_ipda = use_ipda
        decode_head = dict(decode_head, use_motion=use_ipda)
        if use_ipda:
            if neck is None:
                raise ValueError('PDNet(use_ipda=True) needs an IPDA neck')
            self.neck = MODELS.build(neck)
            decode_head.setdefault('motion_channels', self.neck.channels)
        self.decode_head = MODELS.build(decode_head)
        self.align_corners = True
        self.num_refs = getattr(self.data_preprocessor, 'num_refs', 1)
        if use_ipda and self.neck.num_refs != self.num_refs:
            raise ValueError(f'IPDA num_refs ({self.neck.num_refs}) differs '
                             'from data_preprocessor num_refs '
                             f'({self.num_refs})')
        self.part_loss = None
        if part_loss is not None:
            if not use_ipda or self.neck.num_parts < 2:
                print_log('PDNet: part losses are off (no IPDA or p = 1).',
                          logger='current')
            else:
                self.part_loss = MODELS.build(
                    dict(part_loss, num_parts=self.neck.num_parts))
        train_cfg = train_cfg or {}
        self.side_weight = train_cfg.get('side_weight', 0.8)
        self.ref_weight = train_cfg.get('ref_weight', 0.64)
        self.train_cfg = train_cfg
        self.test_cfg = self._check_test_cfg(test_cfg or {})

    @staticmethod
    def _check_test_cfg(test_cfg: dict) -> dict:
        """Refuse settings PDNet would silently ignore."""
        if 'threshold' in test_cfg:
            raise ValueError(
                'PDNet: the mask threshold is model.decode_head.threshold '
                '(one source); test_cfg.threshold is not read, move it there')
        if test_cfg.get('mode', 'whole') != 'whole':
            raise ValueError('PDNet predicts whole frames only, got '
                             f"test_cfg.mode={test_cfg['mode']!r}")
        return test_cfg

    # ------------------------------------------------------------------ #
    # shared forward pieces
    # ------------------------------------------------------------------ #
    def split_frames(self, inputs: Tensor) -> List[Tensor]:
        """Split ``(B, 3 * (1 + R), H, W)`` into 1 + R ``(B, 3, H, W)``."""
        expected = 3 * (1 + self.num_refs)
        if inputs.shape[1] != expected:
            raise ValueError(f'PDNet expects {expected} input channels '
                             f'(target + {self.num_refs} reference frame(s)), '
                             f'got {inputs.shape[1]}')
        return list(inputs.split(3, dim=1))

    def extract_feat(self, inputs: Tensor) -> List[Sequence[Tensor]]:
        """Encoder levels (x2..x5) of every frame, target first."""
        return self.backbone.forward_frames(self.split_frames(inputs))

    def _head(self, appearance: Tensor, motion: Optional[Tensor],
              size) -> Tensor:
        """Mask logits resized to ``size`` (None: at stride 4)."""
        logit = self.decode_head((appearance, motion))
        return logit if size is None else resize_bilinear(logit, size)

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: Optional[List[dict]] = None) -> Tensor:
        """Paired forward to mask logits ``(B, 1, H, W)`` at input size."""
        return self.forward_paired(inputs)['seg_logit']

    def forward_paired(self, inputs: Tensor,
                       size='input') -> Dict[str, Tensor]:
        """Paired forward: target and reference frame(s) through the
        encoder together.

        Args:
            inputs (Tensor): ``(B, 3 * (1 + R), H, W)`` normalised frames,
                target first.
            size (tuple | str | None): Size of ``seg_logit``: ``'input'``
                (default) the input size, None stride 4, or ``(h, w)``.

        Returns:
            dict[str, Tensor]: ``seg_logit`` ``(B, 1, *size)`` and, with
            IPDA, ``parts`` R_t^k ``(B, p, H/16, W/16)``.
        """
        if size == 'input':
            size = inputs.shape[-2:]
        levels = self.extract_feat(inputs)
        appearance = levels[0][0]
        if not self.use_ipda:
            return dict(seg_logit=self._head(appearance, None, size))
        out = self.neck(appearance, [lv[0] for lv in levels[1:]])
        return dict(
            seg_logit=self._head(appearance, out['motion'], size),
            parts=out['part_masks'])

    # ------------------------------------------------------------------ #
    # streaming API (reference encoded once per clip)
    # ------------------------------------------------------------------ #
    def encode_reference(self, refs) -> Dict[str, Tensor]:
        """Encode the reference frame(s) once, for :meth:`forward_target`.

        Args:
            refs (Tensor | Sequence[Tensor]): R normalised reference frames,
                each ``(B, 3, H, W)`` (a single tensor when R = 1).

        Returns:
            dict[str, Tensor]: the cache: IPDA keys/values ``(B, p, d, N)``
            (empty without IPDA: the reference is then unused).
        """
        if isinstance(refs, Tensor):
            refs = [refs]
        if len(refs) != self.num_refs:
            raise ValueError(f'PDNet was built for {self.num_refs} reference '
                             f'frame(s), got {len(refs)}')
        if not self.use_ipda:
            return {}
        levels = self.backbone.forward_frames(refs)
        return self.neck.encode_reference([lv[0] for lv in levels])

    def forward_target(self, img: Tensor, ref_cache: Dict[str, Tensor],
                       size='input') -> Dict[str, Tensor]:
        """Segment a target frame with a cached reference.

        Gives the same result as the paired forward on (img, reference).

        Args:
            img (Tensor): ``(B, 3, H, W)`` normalised target frames.
            ref_cache (dict): Output of :meth:`encode_reference`.
            size (str | tuple | None): Size of ``seg_logit``: ``'input'``
                (default) the input size ``(H, W)``, None the stride-4 logits
                ``(H/4, W/4)`` (to resize straight to a frame's own size, as
                :meth:`predict`), or an explicit ``(H', W')``.

        Returns:
            dict[str, Tensor]: ``seg_logit`` ``(B, 1, *size)`` logits and,
            with IPDA, ``parts`` R_t^k ``(B, p, H/16, W/16)``.
        """
        if size == 'input':
            size = img.shape[-2:]
        appearance = self.backbone(img)[0]
        if not self.use_ipda:
            return dict(seg_logit=self._head(appearance, None, size))
        out = self.neck.assemble(self.neck.decouple(appearance), ref_cache)
        return dict(
            seg_logit=self._head(appearance, out['motion'], size),
            parts=out['part_masks'])

    # ------------------------------------------------------------------ #
    # MMSeg modes
    # ------------------------------------------------------------------ #
    def _forward(self, inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """``tensor`` mode: mask logits ``(B, 1, H, W)``."""
        return self.encode_decode(inputs)

    def predict(self, inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Predict masks at the original image size.

        Returns:
            list[:obj:`SegDataSample`]: with ``seg_logits`` (foreground
            probability, ``(1, H0, W0)``), ``pred_sem_seg`` (0/1 long) and,
            with IPDA, ``pred_parts`` (R_t^k, ``(p, H/16, W/16)``).
        """
        if self._padded(data_samples):
            out = self.forward_paired(inputs)
        else:
            # as the authors: the stride-4 logits are resized straight to
            # the original size (then sigmoid), not through the input size
            out = self.forward_paired(inputs, size=None)
        samples = self.postprocess_result(out['seg_logit'], data_samples)
        for i, sample in enumerate(samples):
            sample.pred_sem_seg.data = sample.pred_sem_seg.data.long()
            if 'parts' in out:
                sample.set_data(
                    dict(pred_parts=PixelData(data=out['parts'][i])))
        return samples

    @staticmethod
    def _padded(data_samples: OptSampleList) -> bool:
        """Whether the preprocessor padded any input (``padding_size``)."""
        return any(
            any(s.metainfo.get('padding_size', [0] * 4))
            for s in data_samples or [])

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Training losses of a video batch or an image batch.

        Video batch (docs/fidelity.md)::

            Lseg(final, G_t)
            + side_weight * [sum_5 Lseg(side_t, G_t) + part_loss_t]
            + ref_weight  * [sum_5 Lseg(side_ref, G_ref) + part_loss_ref]

        with the 5 side outputs x2, x3, x4, x5 and the saliency map. An
        image batch (metainfo ``is_image``: the reference is the image
        itself) gets ``Lseg(final) + side_weight * sum_5 Lseg(side_t)``.

        The terms of all frames are computed together (each side head,
        Lseg, part loss and the frozen extractor run once for all frames,
        :meth:`PDSegLoss.forward_multi`,
        :meth:`PartDecouplingLoss.forward_frames`): the same values as
        term by term, in a fraction of the kernels.

        Returns:
            dict[str, Tensor]: named loss terms (``loss_*``).
        """
        flags = {bool(s.metainfo.get('is_image', False)) for s in data_samples}
        if len(flags) != 1:
            raise ValueError('a batch must hold only video samples or only '
                             'image samples (is_image differs)')
        is_image = flags.pop()
        frames = self.split_frames(inputs)
        gts = [torch.stack(
            [s.gt_sem_seg.data for s in data_samples]).to(inputs.dtype)]
        if is_image:  # target = reference: encode once
            levels = self.backbone.forward_frames(frames[:1])
            levels = levels * (1 + self.num_refs)
            self._update_reference_norm_stats(frames[0])
        else:
            levels = self.backbone.forward_frames(frames)
            gts += self._reference_masks(data_samples, inputs)
        appearance = [lv[0] for lv in levels]
        motion = ipda = None
        if self.use_ipda:
            ipda = self.neck(appearance[0], appearance[1:])
            motion = ipda['motion']
        # Lseg of every output; the frames scored are those with a mask
        sides = self.decode_head.forward_side_frames(levels[:len(gts)])
        if ipda is not None:
            sal_logits = [ipda['sal_logit']] + ipda['ref_sal_logits']
            sides = [s + [sal] for s, sal in zip(sides, sal_logits)]
        logits = [self.decode_head((appearance[0], motion))]  # stride 4
        index = [0]
        for frame, frame_sides in enumerate(sides):
            logits += frame_sides
            index += [frame] * len(frame_sides)
        seg = self.decode_head.loss_decode.forward_multi(logits, gts, index)
        num_sides = len(sides[0])
        losses = dict(loss_seg=seg[0],
                      loss_side=self.side_weight * seg[1:1 + num_sides].sum())
        if is_image:
            return losses
        weight = self.ref_weight / self.num_refs
        part = {}
        if self.part_loss is not None:
            # the frozen extractor once on all frames, in frame order
            feats = self.part_loss.semantic_features(torch.cat(frames))
            part = self.part_loss.forward_frames(
                [ipda['part_logits']] + ipda['ref_part_logits'], sal_logits,
                gts, feats)
        refs = {}
        for name, per_frame in part.items():
            target, *ref = per_frame.unbind()
            losses[name] = self.side_weight * target
            refs[name.replace('loss_', 'loss_ref_')] = weight * sum(ref[1:],
                                                                    ref[0])
        losses['loss_ref_side'] = weight * seg[1 + num_sides:].sum()
        losses.update(refs)
        return losses

    def _reference_masks(self, data_samples: SampleList,
                         inputs: Tensor) -> List[Tensor]:
        """The R reference masks ``(B, 1, H, W)`` of a video batch."""
        if not all('gt_ref_seg' in s for s in data_samples):
            raise ValueError('video training samples need the reference '
                             'mask(s) gt_ref_seg')
        gt_refs = torch.stack([s.gt_ref_seg.data for s in data_samples])
        if gt_refs.shape[1] != self.num_refs:
            raise ValueError(f'expected {self.num_refs} reference mask(s), '
                             f'got {gt_refs.shape[1]}')
        if gt_refs.shape[-2:] != inputs.shape[-2:]:
            raise ValueError('reference masks must match the input size '
                             f'{tuple(inputs.shape[-2:])}, got '
                             f'{tuple(gt_refs.shape[-2:])}')
        return list(gt_refs.to(inputs.dtype).split(1, dim=1))

    @torch.no_grad()
    def _update_reference_norm_stats(self, image: Tensor) -> None:
        """The authors' image step encodes the image twice, as target and
        as its own reference. Both calls see the same batch, so outputs and
        gradients equal those of one call reused; only the BN running
        statistics differ: they are updated once per call. This runs the
        reference calls for that update alone (training with
        ``per_frame_norm``)."""
        if not (self.training and getattr(self.backbone, 'per_frame_norm',
                                          False)):
            return
        for _ in range(self.num_refs):
            self.backbone(image)
