"""``cfg.compile`` with our model, losses and training loop.

MMEngine's ``Runner.train()`` compiles ``runner.model.train_step`` (its
``_maybe_compile('train_step')``: ``torch.compile`` of the bound method,
set back on the model, after the model is wrapped) and then runs the train
loop. :class:`AlternatingImageVideoLoop` calls
``self.runner.model.train_step`` at every iteration, so it runs the
compiled step with no change of its own.

* the step (``_maybe_compile`` itself, on a narrow PDNet, a video batch):
  the compiled ``train_step`` gives the eager step's losses, gradients,
  SGD step and BN statistics, with ``aot_eager`` (AOTAutograd's joint
  graph of the whole step); inductor in test_compile_inductor.py;
* the loop: ``tools/train.py --cfg-options compile.backend=eager``
  (dynamo's capture without code generation) trains both phases through
  the compiled ``train_step``.

The data preprocessor runs eagerly inside the compiled step
(``@torch.compiler.disable``, docs/performance.md), and dynamo cannot
break the graph inside ``optim_wrapper.optim_context``: it compiles the
frames called from ``train_step`` (the model's forward and losses, the
optimizer step) and runs ``train_step``'s own few lines eagerly.
"""
import math

import torch
import torch._dynamo
from mmengine.runner import Runner

from tests.engine.compile_steps import (  # noqa: F401  (fixture)
    assert_runner_compile_gives_the_eager_step, fresh_dynamo)
from tests.helpers import make_image_set, make_tiny_data, write_tiny_config


def test_compiled_train_step_gives_the_eager_step(fresh_dynamo):
    """``aot_eager``: AOTAutograd's joint forward/backward graph of the
    whole step, functionalised (the BN buffer updates included), run by
    aten: all of compiling but code generation (inductor:
    test_compile_inductor.py)."""
    assert_runner_compile_gives_the_eager_step('aot_eager')


def test_train_with_cfg_compile_runs_both_phases_compiled(
        tmp_path, load_tool, fresh_dynamo):
    data = make_tiny_data(str(tmp_path / 'data'), frames=2)
    images = make_image_set(data, str(tmp_path / 'images'))
    cfg = write_tiny_config(str(tmp_path / 'tiny.py'), data, epochs=1,
                            batch=2, image_root=images)
    train = load_tool('train.py')
    args = train.parse_args([cfg, '--work-dir', str(tmp_path / 'work'),
                             '--cfg-options', 'compile.backend=eager'])
    runner = Runner.from_cfg(train.build_cfg(args))
    records = []
    from mmengine.hooks import Hook

    class Record(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            records.append((runner.train_loop.phase, outputs))

    runner.register_hook(Record(), priority='VERY_LOW')
    runner.train()
    # the runner set the compiled train_step on the model, and the loop's
    # iterations ran through dynamo (frames traced and converted)
    assert 'train_step' in vars(runner.model)
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] > 0
    # 2 video batches (2 clips x 2 frames, batch 2), 1 image batch
    assert runner.train_loop.iter == 3
    assert sorted(p for p, _ in records) == ['image', 'video', 'video']
    for phase, out in records:
        assert out and all(k.startswith(phase + '.') for k in out)
        assert all(math.isfinite(float(torch.as_tensor(v).detach()))
                   for v in out.values()), out
