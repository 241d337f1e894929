# Copyright (c) mmseg-pdnet contributors. All rights reserved.
"""The sections of ``tools/analysis_tools/gpu_report.py``, one per module:

* :mod:`.sizes`: what each section runs, at full (GPU) or tiny size;
* :mod:`.report_config`: the paper config without downloads, as a file;
* :mod:`.cuda_tests`: the CUDA-only tests, run by pytest;
* :mod:`.inference_matrix`: paired / streaming / baseline, every batch,
  precision and execution (eager, CUDA graphs), in one interleaved run;
* :mod:`.training_matrix`: the training step in fp32, AMP, AMP +
  channels_last and compiled;
* :mod:`.clips`: generated video clips;
* :mod:`.video_e2e`: ``tools/infer_video.py`` end to end;
* :mod:`.recipe_run`: ``tools/train.py`` on the paper config, then
  ``--resume``;
* :mod:`.nvenc`: whether the GPU's video encoder is usable from PyAV;
* :mod:`.markdown`: the report as a Markdown page;
* :mod:`.command`: a timed subprocess of a section.
"""
