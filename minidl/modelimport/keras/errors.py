"""The importer's errors, under DL4J's names (``org.deeplearning4j.nn.modelimport.keras
.exceptions``). Both are ValueErrors: a bad file is bad input."""


class KerasImportError(ValueError):
    """Base of the errors below: a file that cannot become a minidl network."""


class InvalidKerasConfigurationException(KerasImportError):
    """The file is not a Keras model, or its configuration or weights contradict each other."""


class UnsupportedKerasConfigurationException(KerasImportError):
    """A valid Keras model that uses something minidl does not import (a layer, a setting, a
    loss, a custom object): refused by name, never imported as something else."""
