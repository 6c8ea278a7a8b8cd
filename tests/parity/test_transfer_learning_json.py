"""DL4J's TestTransferLearningJson, ported
(deeplearning4j-nn/src/test/java/.../nn/transferlearning/TestTransferLearningJson.java).

Ported: testJsonYaml, JSON half. A FineTuneConfiguration with an activation, an updater and a
bias updater round-trips through JSON to an equal object, and re-serialising gives the same
string. minidl has no YAML, so that half is left out.
"""

from minidl import AdaGrad, Activation
from transfer import FineTuneConfiguration


def test_json():
    ftc = (FineTuneConfiguration.Builder().activation(Activation.ELU).updater(AdaGrad(1.0))
           .bias_updater(AdaGrad(10.0)).build())
    text = ftc.to_json()
    restored = FineTuneConfiguration.from_json(text)
    assert restored == ftc
    assert restored.bias_updater == AdaGrad(10.0) and restored.activation is Activation.ELU
    assert restored.to_json() == text
