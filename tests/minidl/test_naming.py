"""minidl.naming: DL4J's camelCase names reach the snake_case API by one rule, both ways."""

import numpy as np
import pytest

from minidl import Activation, MultiLayerNetwork, NeuralNetConfiguration, DenseLayer, OutputLayer
from minidl.naming import Dl4jNames, camel_case, snake_case
from minidl.nn.listeners import TrainingListener


@pytest.mark.parametrize("camel, snake", [
    ("setFeatureExtractor", "set_feature_extractor"), ("nOut", "n_out"), ("l2Bias", "l2_bias"),
    ("getLayer", "get_layer"), ("writeModel", "write_model"), ("setInputType", "set_input_type"),
    # DL4J's getters of fields named nLayers / nIn: getnLayers(), setnIn()
    ("getnLayers", "get_n_layers"), ("setnIn", "set_n_in"), ("getNumLayers", "get_num_layers"),
    ("reset", "reset"), ("settings", "settings"), ("getter", "getter"),
])
def test_snake_case(camel, snake):
    assert snake_case(camel) == snake


def test_camel_case_inverts_snake_case():
    for name in ("set_feature_extractor", "n_out", "fit_featurized", "output"):
        assert snake_case(camel_case(name)) == name


def tiny_network():
    conf = (NeuralNetConfiguration.Builder().seed(1).list()
            .layer(DenseLayer(n_in=3, n_out=4))
            .layer(OutputLayer(n_in=4, n_out=2, activation=Activation.SOFTMAX)).build())
    return MultiLayerNetwork(conf).init()


def test_camel_case_calls_reach_snake_case_methods():
    net = tiny_network()
    assert net.getnLayers() == net.get_n_layers() == 2
    assert net.numParams() == net.num_params()
    with pytest.raises(AttributeError, match="nor its snake_case form 'no_such_thing'"):
        net.noSuchThing()


def test_a_subclass_method_under_its_dl4j_name_overrides_the_snake_case_one():
    calls = []

    class Listener(TrainingListener):  # a port of a Java TrainingListener, method for method
        def iterationDone(self, model, iteration, epoch):
            calls.append(("iteration", iteration, epoch))

    net = tiny_network()
    net.set_listeners(Listener())
    x = np.random.default_rng(0).random((4, 3), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]
    net.fit(x, y)
    net.fit(x, y)
    assert calls == [("iteration", 0, 0), ("iteration", 1, 0)]


def test_only_overrides_are_aliased():
    class Base(Dl4jNames):
        def do_it(self):
            return "base"

    class Ported(Base):
        def doIt(self):  # overrides do_it
            return "ported"

        def somethingNew(self):  # nothing to override: stays as it is
            return "new"

    assert Ported().do_it() == "ported"
    assert "something_new" not in vars(Ported) and Ported().somethingNew() == "new"


def test_dl4j_getters_of_plain_fields_need_no_method():
    class Prediction(Dl4jNames):
        def __init__(self):
            self.label, self.n_out = "rose", 3

        def describe(self):
            return "a method"

    p = Prediction()
    assert p.getLabel() == "rose" and p.getNOut() == 3
    with pytest.raises(AttributeError, match="getColour"):
        p.getColour()
    with pytest.raises(AttributeError):  # a method is not a field: getDescribe is no getter
        p.getDescribe()
