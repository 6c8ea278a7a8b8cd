"""The offline demo behind ``minidl demo``: a whole transfer-learning story in seconds.

No download: the demo draws its own pictures with Pillow, deterministically from a seed.

1. **Source task.** Ten kinds of shapes (circle, ring, square, ...) on noisy backgrounds, 32x32.
   A small VGG-style ComputationGraph with DL4J's pretrained vertex names (``input_1``,
   ``block1_conv1``, ``block1_pool`` ... ``block5_pool``, ``flatten``, ``fc1``, ``fc2``,
   ``predictions``) is trained on it once and cached with ModelSerializer under
   ``$MINIDL_HOME/models/demo/``: the stand-in for VGG16's ImageNet weights.
2. **Target task.** Five *other* shapes (L, T, arrow, hourglass, half-disc) with only a few
   training pictures per class: the situation transfer learning is for.
3. **Transfer**, as DL4J's EditLastLayerOthersFrozen and FitFromFeaturized do: freeze up to
   ``fc2``, replace ``predictions``, featurize the training pictures once, fit the new head on
   the features; then, as FineTuneFromBlockFour, unfreeze block 5 and fine-tune it.
4. **Baseline.** The same network trained from scratch on the same few pictures.

It prints accuracy before and after each step, transfer vs from-scratch, the time of an epoch
on featurized data vs an epoch through the frozen network, and the transferred network's
``summary()``. ``run_demo(plot="curves.png")`` also draws the test-accuracy curves (Pillow).

The parts: ``shapes`` draws the pictures, ``model`` builds and caches the small source VGG,
``training`` holds the settings and the training loop, ``run`` tells the story, ``plot`` draws
the curves; the new head itself is ``transfer.heads.transfer_head``, which ``minidl
fit-featurized`` uses too. ``small_vgg`` and the image generator are public: the examples'
``--small`` mode and the tests use them too. The demo lives in ``transfer`` (not ``minidl``)
because it uses the transfer API. docs/how-it-works.md walks through what each step does inside.
"""

from transfer.demo.shapes import (IMAGE_SIZE, SOURCE_SHAPES, TARGET_SHAPES, make_images,
                                  render_shape, to_dataset, write_image_folder)
from transfer.demo.training import FAST, FULL, accuracy
from transfer.demo.model import (CACHE_VERSION, pretrained_source_model, small_vgg,
                                 source_model_path)
from transfer.demo.plot import save_plot
from transfer.demo.run import fine_tune_from, run_demo
from transfer.heads import transfer_head
