"""DL4J's transfer-learning API on minidl: edit, freeze, featurize, fine-tune.

    from transfer import TransferLearning, FineTuneConfiguration, TransferLearningHelper
"""

from transfer.fine_tune import FineTuneConfiguration, REMOVE
from transfer.builders import TransferLearning
from transfer.helper import TransferLearningHelper
from transfer.featurized import featurize_to_disk, FeaturizedDataSetIterator
