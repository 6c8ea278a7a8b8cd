"""Files the CLI tests share: the demo's small VGG-shaped source model (input_1, block1..5,
flatten, fc1, fc2, predictions; trained on generated shapes, cached in the shared test home),
the same model without its top (it ends at block5_pool, as a no-top zoo model), 4 classes of
generated pictures, and features of the no-top model at its last vertex."""

import pytest

from minidl import cli


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    from minidl import ModelSerializer
    from transfer import TransferLearning
    from transfer.demo import FAST, SOURCE_SHAPES, pretrained_source_model, write_image_folder
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINIDL_HOME", str(tmp_path_factory.getbasetemp() / "demo-home"))
        net, _ = pretrained_source_model(12345, FAST)
    folder = tmp_path_factory.mktemp("cli-files")
    ModelSerializer.write_model(net, folder / "source.zip")
    builder = TransferLearning.GraphBuilder(net)
    for top in ("predictions", "fc2", "fc1", "flatten"):
        builder.remove_vertex_and_connections(top)
    ModelSerializer.write_model(builder.set_outputs("block5_pool").build(), folder / "notop.zip")
    write_image_folder(folder / "images", SOURCE_SHAPES[:4], 10, seed=99)
    return folder


@pytest.fixture(scope="session")
def notop_features(files):
    """Features of notop.zip at block5_pool, its last vertex (scaled pixels: the demo's)."""
    out = files / "notop-features"
    assert cli.main(["--quiet", "featurize", str(files / "notop.zip"), "--layer", "block5_pool",
                     "--data", str(files / "images"), "--out", str(out),
                     "--preprocess", "scale"]) == 0
    return out


@pytest.fixture(scope="session")
def trained(files, notop_features, tmp_path_factory):
    """A model zip fit-featurized on those features: notop.zip with a new head on block5_pool
    (the evaluate and predict tests)."""
    out = tmp_path_factory.mktemp("trained") / "m.zip"
    assert cli.main(["--quiet", "fit-featurized", str(files / "notop.zip"), str(notop_features),
                     "-o", str(out), "--epochs", "5", "--learning-rate", "0.05"]) == 0
    return out
