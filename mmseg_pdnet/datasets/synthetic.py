# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""Deterministic synthetic portrait clips in the MVPS layout (demo data).

Each clip has a textured, panning background and one to three articulated
figures (head, torso, upper/lower arms and legs). Limbs swing with their
own frequencies and phases, independently of the torso's slow drift: the
imbalanced part motion PDNet is designed for. Some clips add an occluder
passing in front of the figures (removed from the mask) and a
semi-transparent subtitle band (the portrait stays annotated beneath it).
"""
import inspect
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

#: written by :func:`make_demo_dataset` into its output root
DESIGN_FILE = 'design.json'
CATEGORIES = ('entertainment', 'indoor handwork', 'interview', 'lecture',
              'news', 'outdoor activity', 'online shopping')


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A colourful, non-flat background canvas ``(h, w, 3)`` uint8."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(40, 200, 3).astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        fx, fy = rng.uniform(0.005, 0.05, 2)
        img[..., c] = base[c] + 40 * np.sin(fx * xx + fy * yy +
                                            rng.uniform(0, 6.3))
    noise = cv2.GaussianBlur(rng.normal(0, 40, (h, w, 3)).astype(np.float32),
                             (0, 0), sigmaX=3)
    img += noise
    for _ in range(rng.integers(4, 9)):  # furniture-like blocks
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(w // 12, w // 3), y0 + rng.integers(
            h // 12, h // 2)
        cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)),
                      rng.uniform(0, 255, 3).tolist(), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _new_figure(rng: np.random.Generator, h: int, w: int,
                figure_scale: Tuple[float, float] = (0.22, 0.4)) -> Dict:
    scale = rng.uniform(*figure_scale) * h
    return dict(
        x=rng.uniform(0.2, 0.8) * w, y=rng.uniform(0.45, 0.6) * h,
        vx=rng.uniform(-0.6, 0.6), scale=scale,
        skin=rng.uniform([60, 90, 150], [120, 160, 230]).tolist(),
        shirt=rng.uniform(0, 255, 3).tolist(),
        trousers=rng.uniform(0, 120, 3).tolist(),
        # per limb: (base angle, amplitude, angular speed, phase)
        limbs=[(b, rng.uniform(0.3, 1.1), rng.uniform(0.08, 0.35),
                rng.uniform(0, 6.3)) for b in (2.4, 0.75, 1.75, 1.4)],
        bend=[(rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.4),
               rng.uniform(0, 6.3)) for _ in range(4)])


def _draw_figure(img: np.ndarray, mask: np.ndarray, fig: Dict,
                 t: int) -> None:
    s = fig['scale']
    cx = fig['x'] + fig['vx'] * t + 0.05 * s * np.sin(0.05 * t)
    cy = fig['y'] + 0.03 * s * np.sin(0.07 * t)
    torso_w, torso_h = 0.42 * s, 0.7 * s
    limb_w = max(2, int(0.13 * s))
    shoulder_y, hip_y = cy - 0.3 * torso_h, cy + 0.5 * torso_h
    joints = [(cx - torso_w / 2, shoulder_y), (cx + torso_w / 2, shoulder_y),
              (cx - torso_w / 4, hip_y), (cx + torso_w / 4, hip_y)]
    colours = [fig['shirt'], fig['shirt'], fig['trousers'], fig['trousers']]

    def paint(draw):
        for target, value in ((img, None), (mask, 255)):
            draw(target, value)

    # legs first (behind the torso), then torso, arms and head
    order = [2, 3, None, 0, 1]
    for k in order:
        if k is None:
            box = np.array([[cx - torso_w / 2, shoulder_y - 0.1 * s],
                            [cx + torso_w / 2, shoulder_y - 0.1 * s],
                            [cx + torso_w / 2.4, hip_y],
                            [cx - torso_w / 2.4, hip_y]], np.int32)
            paint(lambda dst, v: cv2.fillConvexPoly(
                dst, box, v if v is not None else fig['shirt']))
            continue
        base, amp, speed, phase = fig['limbs'][k]
        length = (0.45 if k < 2 else 0.55) * s
        angle = base + amp * np.sin(speed * t + phase)
        if k == 0:
            angle = np.pi - (base - np.pi / 2) - amp * np.sin(speed * t +
                                                              phase)
        bend_amp, bend_speed, bend_phase = fig['bend'][k]
        bend = bend_amp * np.sin(bend_speed * t + bend_phase)
        j0 = np.array(joints[k])
        j1 = j0 + length * np.array([np.cos(angle), np.sin(angle)])
        j2 = j1 + length * np.array([np.cos(angle + bend),
                                     np.sin(angle + bend)])
        colour = colours[k]
        hand = fig['skin'] if k < 2 else (30, 30, 30)
        for a, b, c in ((j0, j1, colour), (j1, j2, colour)):
            paint(lambda dst, v, a=a, b=b, c=c: cv2.line(
                dst, tuple(int(u) for u in a), tuple(int(u) for u in b),
                v if v is not None else c, limb_w, cv2.LINE_AA))
        paint(lambda dst, v: cv2.circle(
            dst, tuple(int(u) for u in j2), max(2, limb_w // 2 + 1),
            v if v is not None else hand, -1, cv2.LINE_AA))
    head = (int(cx + 0.04 * s * np.sin(0.2 * t)), int(shoulder_y - 0.32 * s))
    paint(lambda dst, v: cv2.ellipse(
        dst, head, (int(0.17 * s), int(0.21 * s)), 0, 0, 360,
        v if v is not None else fig['skin'], -1, cv2.LINE_AA))


def _draw_count(rng: np.random.Generator, most: int) -> int:
    """1 to ``most`` (uniform), or 0 without a draw when ``most`` is 0, so
    a design option that is off leaves the clip's other draws as they
    were."""
    return int(rng.integers(1, most + 1)) if most > 0 else 0


def render_clip(seed: int,
                num_frames: int,
                height: int,
                width: int,
                occluder: bool,
                subtitles: bool,
                figure_scale: Tuple[float, float] = (0.22, 0.4),
                max_figures: int = 3,
                posters: int = 0,
                passers: int = 0,
                max_pan: float = 1.5):
    """Yield ``(frame BGR uint8 (H, W, 3), mask 0/255 uint8 (H, W))``.

    See :func:`make_demo_dataset` for the design arguments.
    """
    rng = np.random.default_rng(seed)
    pan = rng.uniform(-max_pan, max_pan, 2) if max_pan > 0 else np.zeros(2)
    margin = int(2 * num_frames + 8)
    canvas = _texture(rng, height + 2 * margin, width + 2 * margin)
    figures = [_new_figure(rng, height, width, figure_scale)
               for _ in range(rng.integers(1, max_figures + 1))]
    occ = dict(y=rng.uniform(0.3, 0.8) * height, size=rng.uniform(
        0.08, 0.18) * height, colour=rng.uniform(0, 255, 3).tolist(),
        speed=rng.uniform(2, 5) * width / 100, start=rng.uniform(-0.2, 0.3))
    text = ''.join(rng.choice(list('abcdefghij klmnopq rstuvwxyz'), 24))
    # Posters: figures painted on the background canvas, frozen in one pose,
    # panning with it. They are not portrait: only the moving figures are.
    for _ in range(_draw_count(rng, posters)):
        poster = _new_figure(rng, height, width, figure_scale)
        poster['x'] += margin
        poster['y'] += margin
        poster['vx'] = 0.
        _draw_figure(canvas, np.zeros(canvas.shape[:2], np.uint8), poster,
                     int(rng.integers(0, 100)))
    # Passers-by: figures that enter after the first frame (the reference)
    # and walk across behind the portrait. They are not portrait: who the
    # portrait is, only the reference frame shows.
    walkers = []
    for _ in range(_draw_count(rng, passers)):
        walker = _new_figure(rng, height, width, figure_scale)
        side = rng.choice([-1., 1.])
        walker['x'] = width / 2 - side * (width / 2 + walker['scale'])
        walker['vx'] = side * rng.uniform(0.02, 0.04) * width
        walkers.append((int(rng.integers(1, max(2, num_frames // 2))),
                        walker))
    unannotated = np.zeros((height, width), np.uint8)
    for t in range(num_frames):
        ox = int(np.clip(margin + pan[0] * t, 0, 2 * margin))
        oy = int(np.clip(margin + pan[1] * t, 0, 2 * margin))
        img = canvas[oy:oy + height, ox:ox + width].copy()
        mask = np.zeros((height, width), np.uint8)
        for start, walker in walkers:
            if t >= start:
                _draw_figure(img, unannotated, walker, t - start)
        for fig in figures:
            _draw_figure(img, mask, fig, t)
        if occluder:
            x = int(occ['start'] * width + occ['speed'] * t)
            centre, r = (x, int(occ['y'])), int(occ['size'])
            cv2.circle(img, centre, r, occ['colour'], -1, cv2.LINE_AA)
            cv2.circle(mask, centre, r, 0, -1)  # in front: not portrait
        if subtitles:
            band = img[int(0.82 * height):int(0.95 * height)]
            band[:] = (band * 0.45).astype(np.uint8)
            cv2.putText(img, text, (int(0.05 * width), int(0.91 * height)),
                        cv2.FONT_HERSHEY_SIMPLEX, height / 480,
                        (255, 255, 255), max(1, height // 240), cv2.LINE_AA)
        yield img, (mask > 127).astype(np.uint8) * 255


def make_demo_dataset(out_dir: str,
                      seed: int = 0,
                      train_clips: int = 8,
                      test_clips: int = 4,
                      min_frames: int = 30,
                      max_frames: int = 60,
                      height: int = 180,
                      width: int = 320,
                      jpeg_quality: int = 92,
                      figure_scale: Tuple[float, float] = (0.22, 0.4),
                      max_figures: int = 3,
                      posters: int = 0,
                      passers: int = 0,
                      max_pan: float = 1.5) -> Dict[str, List[str]]:
    """Write a synthetic MVPS-layout dataset.

    Layout, as the MVPS release: ``Keyframes/480p/<seq>/<frame>.jpg``,
    ``Annotations/480p/<seq>/<frame>.png`` (0/255; every frame annotated),
    ``ImageSets/train.txt``, ``ImageSets/val.txt`` (the evaluation split:
    the ``test_*`` clips) and ``ImageSets/categories.txt``
    (``<seq> <category>``); ``design.json`` records the arguments
    (:func:`design_record`).

    Args:
        out_dir (str): Output root (created).
        seed (int): Seed; the same arguments give byte-identical masks.
        train_clips (int): Number of training clips.
        test_clips (int): Number of evaluation clips (``val.txt``).
        min_frames (int): Fewest frames of a clip.
        max_frames (int): Most frames of a clip.
        height (int): Frame height.
        width (int): Frame width.
        jpeg_quality (int): JPEG quality of the frames.
        figure_scale (tuple[float, float]): Range of a figure's scale (its
            torso is 0.7 scale high), as a fraction of the frame height.
        max_figures (int): Most moving figures of a clip (at least one).
        posters (int): Most posters of a clip: figures painted on the
            background, frozen in one pose, not portrait.
        passers (int): Most passers-by of a clip: figures that enter after
            the first frame and walk across behind the portrait, not
            portrait (only the reference frame tells them apart).
        max_pan (float): Largest camera pan speed, pixels per frame.

    Returns:
        dict[str, list[str]]: sequence names per split (``'train'``,
        ``'val'``).
    """
    design = dict(locals())  # the arguments: no other local exists yet
    del design['out_dir']
    record = design_record(**design)
    if min_frames < 1 or max_frames < min_frames:
        raise ValueError(f'need 1 <= min_frames <= max_frames, got '
                         f'{min_frames}, {max_frames}')
    lo, hi = figure_scale
    if not 0 < lo <= hi:
        raise ValueError(f'figure_scale must be (min, max) with '
                         f'0 < min <= max, got {tuple(figure_scale)}')
    if max_figures < 1:
        raise ValueError(f'max_figures must be >= 1, got {max_figures}')
    if posters < 0:
        raise ValueError(f'posters must be >= 0, got {posters}')
    if passers < 0:
        raise ValueError(f'passers must be >= 0, got {passers}')
    if max_pan < 0:
        raise ValueError(f'max_pan must be >= 0, got {max_pan}')
    rng = np.random.default_rng(seed)
    splits = {'train': [], 'test': []}
    categories = []
    for i in range(train_clips + test_clips):
        split = 'train' if i < train_clips else 'test'
        seq = f'{split}_{i:03d}'
        category = CATEGORIES[i % len(CATEGORIES)]
        num = int(rng.integers(min_frames, max_frames + 1))
        img_dir = osp.join(out_dir, 'Keyframes', '480p', seq)
        ann_dir = osp.join(out_dir, 'Annotations', '480p', seq)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        clip = render_clip(seed * 1000 + i, num, height, width,
                           occluder=i % 3 == 1, subtitles=i % 4 == 2,
                           figure_scale=figure_scale, max_figures=max_figures,
                           posters=posters, passers=passers,
                           max_pan=max_pan)
        for t, (img, mask) in enumerate(clip):
            cv2.imwrite(osp.join(img_dir, f'{t:05d}.jpg'), img,
                        [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            cv2.imwrite(osp.join(ann_dir, f'{t:05d}.png'), mask)
        splits[split].append(seq)
        categories.append(f'{seq} {category}')
    sets = osp.join(out_dir, 'ImageSets')
    os.makedirs(sets, exist_ok=True)
    # the MVPS release names its evaluation split 'val'
    for name, seqs in (('train', splits['train']), ('val', splits['test'])):
        with open(osp.join(sets, f'{name}.txt'), 'w') as f:
            f.write(''.join(s + '\n' for s in seqs))
    with open(osp.join(sets, 'categories.txt'), 'w') as f:
        f.write(''.join(c + '\n' for c in categories))
    with open(osp.join(out_dir, DESIGN_FILE), 'w') as f:
        json.dump(record, f, indent=2, sort_keys=True)
    return dict(train=splits['train'], val=splits['test'])


def design_record(**kwargs) -> dict:
    """All arguments of :func:`make_demo_dataset` but ``out_dir``, defaults
    filled in, as JSON gives them back (tuples become lists): what
    ``design.json`` holds, so that two designs compare equal exactly when
    they make the same clips."""
    params = inspect.signature(make_demo_dataset).parameters
    unknown = set(kwargs) - set(params) | ({'out_dir'} & set(kwargs))
    if unknown:
        raise TypeError(f'not a design argument: {sorted(unknown)}')
    record = {name: kwargs.get(name, param.default)
              for name, param in params.items() if name != 'out_dir'}
    return json.loads(json.dumps(record))


def read_design(out_dir: str) -> Optional[dict]:
    """The ``design.json`` of a demo dataset, or None when there is none."""
    path = osp.join(out_dir, DESIGN_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)
