"""The layer tests, one file per module of minidl/nn/layers.

A package (unlike the other test folders) because test_pooling.py and test_dropout.py share
their names with tests of the ops (tests/minidl/ops): pytest imports same-named test files
only from packages.
"""
