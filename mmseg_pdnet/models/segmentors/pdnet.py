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

        Returns:
            dict[str, Tensor]: named loss terms (``loss_*``).
        """
        flags = {bool(s.metainfo.get('is_image', False)) for s in data_samples}
        if len(flags) != 1:
            raise ValueError('a batch must hold only video samples or only '
                             'image samples (is_image differs)')
        is_image = flags.pop()
        frames = self.split_frames(inputs)
        size = inputs.shape[-2:]
        gt_t = torch.stack(
            [s.gt_sem_seg.data for s in data_samples]).to(inputs.dtype)
        if is_image:  # target = reference: encode once
            levels = self.backbone.forward_frames(frames[:1])
            levels = levels * (1 + self.num_refs)
            self._update_reference_norm_stats(frames[0])
        else:
            levels = self.backbone.forward_frames(frames)
        appearance = [lv[0] for lv in levels]
        seg_loss = self.decode_head.loss_decode
        losses = {}
        motion = ipda = None
        if self.use_ipda:
            ipda = self.neck(appearance[0], appearance[1:])
            motion = ipda['motion']
        losses['loss_seg'] = seg_loss(
            self._head(appearance[0], motion, size), gt_t)

        sides = self.decode_head.forward_side(levels[0])
        if ipda is not None:
            sides.append(ipda['sal_logit'])
        losses['loss_side'] = self.side_weight * sum(
            seg_loss(s, gt_t) for s in sides)
        if is_image:
            return losses

        if self.part_loss is not None:
            feats = self.part_loss.semantic_features(frames[0])
            terms = self.part_loss(ipda['part_logits'], ipda['sal_logit'],
                                   gt_t, feats)
            for name, value in terms.items():
                losses[name] = self.side_weight * value
        self._add_reference_losses(losses, data_samples, frames, levels,
                                   ipda, size)
        return losses

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

    def _add_reference_losses(self, losses: dict, data_samples: SampleList,
                              frames: List[Tensor], levels, ipda,
                              size) -> None:
        """Side and part losses of each reference frame vs. its mask."""
        if not all('gt_ref_seg' in s for s in data_samples):
            raise ValueError('video training samples need the reference '
                             'mask(s) gt_ref_seg')
        gt_refs = torch.stack([s.gt_ref_seg.data for s in data_samples])
        gt_refs = gt_refs.to(frames[0].dtype)
        if gt_refs.shape[1] != self.num_refs:
            raise ValueError(f'expected {self.num_refs} reference mask(s), '
                             f'got {gt_refs.shape[1]}')
        seg_loss = self.decode_head.loss_decode
        weight = self.ref_weight / self.num_refs
        for r in range(self.num_refs):
            gt = gt_refs[:, r:r + 1]
            if gt.shape[-2:] != size:
                raise ValueError('reference masks must match the input size '
                                 f'{tuple(size)}, got {tuple(gt.shape[-2:])}')
            sides = self.decode_head.forward_side(levels[1 + r])
            if ipda is not None:
                sides.append(ipda['ref_sal_logits'][r])
            side = weight * sum(seg_loss(s, gt) for s in sides)
            losses['loss_ref_side'] = losses.get('loss_ref_side', 0) + side
            if self.part_loss is None:
                continue
            feats = self.part_loss.semantic_features(frames[1 + r])
            terms = self.part_loss(ipda['ref_part_logits'][r],
                                   ipda['ref_sal_logits'][r], gt, feats)
            for name, value in terms.items():
                key = name.replace('loss_', 'loss_ref_')
                losses[key] = losses.get(key, 0) + weight * value
