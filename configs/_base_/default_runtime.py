# Runtime shared by every PDNet config (MMSeg 1.x conventions).
default_scope = 'mmseg'
custom_imports = dict(imports=['mmseg_pdnet'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
# test-time frames/s (model only and with data loading), and side-by-side
# target | reference | prediction | ground truth | parts panels when
# tools/test.py --show-dir is given
custom_hooks = [
    dict(type='InferenceSpeedHook'),
    dict(type='PairVisualizationHook', interval=10),
]
# GPU speed options (results unchanged within docs/performance.md's
# tolerances):
# - mixed precision: tools/train.py --amp (AmpOptimWrapper per phase; the
#   losses compute in float32)
# - torch.compile of the train step: compile = True (or a dict of
#   torch.compile arguments, e.g. compile = dict(mode='max-autotune'));
#   the data preprocessor stays eager, the first iterations of each phase
#   compile
# - channels_last: custom_hooks += [dict(type='ChannelsLastHook')]
