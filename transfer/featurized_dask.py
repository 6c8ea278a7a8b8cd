"""``featurize_to_disk(..., client=client)``: the frozen part runs on a Dask cluster's workers.

The driver sends the frozen network once (``minidl.scaleout.cluster.ship``: each worker fetches
it once and keeps it) and then, per shard, only what the shard is made of:

* for an image iterator (a ``RecordReaderDataSetIterator`` over an ``ImageRecordReader``) the
  shard's file paths: the worker reads and decodes the images itself, through a copy of the
  driver's reader and iterator (same size, channel order, labels and pre-processor), so pixels
  never cross the network;
* for any other iterator, the batch itself (the driver reads it; a few batches in flight).

Shard ``i`` is batch ``i``: files ``i * batch_size`` to ``(i + 1) * batch_size`` of the reader's
list. Each worker writes its shard atomically into the shared folder and returns the shard's
record; only the driver writes ``manifest.json`` (``transfer.featurized``). A task is a pure
function of (network, files): when a worker dies, Dask runs its tasks again elsewhere and they
write the same shards.

An undecodable image makes its own shard one example shorter, here as in one process (a batch
of ``RecordReaderDataSetIterator`` is its files, those that decode), and is counted the same:
``iterator.skipped`` lists it, with a warning.
"""

import copy
import glob
import os
import warnings

from minidl.data.records import ImageRecordReader, RecordReaderDataSetIterator
from minidl.data.splits import InputSplit
from minidl.scaleout import check_shared_directory, worker_count
from minidl.scaleout.cluster import ship
from minidl.scaleout.shipping import check_serializable, forget, pack, worker_network

IN_FLIGHT_PER_WORKER = 2  # batches read by the driver ahead of the workers (non-image data)


def check_cluster(client, helper, directory):
    """Before any work: the network can be sent, and every worker sees ``directory``."""
    check_serializable(helper.network)
    check_shared_directory(client, directory)


def featurize_on_cluster(client, helper, iterator, directory, done, task, shard_name):
    """Yield the record of every shard not in ``done`` as the workers finish it (completion
    order); ``task(helper, batch, directory, name)`` featurizes and saves one batch."""
    from dask.distributed import as_completed
    directory = os.path.abspath(directory)
    template = _image_template(iterator)
    packed = pack(helper.network)
    payload = ship(client, {"network": packed, "template": template}, "features")
    window = IN_FLIGHT_PER_WORKER * worker_count(client)
    pending, skipped = as_completed(), {}
    try:
        for index, part in _parts(iterator, template):
            name = shard_name(index)
            if name in done:
                continue
            pending.add(client.submit(_featurize_part, payload, part, directory, name, task,
                                      index, key=f"minidl-featurize-{payload.key}-{name}"))
            while template is None and pending.count() >= window:  # bound the batches held
                yield from _finished(next(pending), skipped)
        for future in pending:
            yield from _finished(future, skipped)
    finally:  # an interrupted driver stops its tasks too (a re-run resumes from the manifest)
        client.cancel([payload, *pending.futures])
        forget(client, packed, _forget_helper)
    _report_skipped(iterator, skipped)
    _remove_orphans(directory)


def _finished(future, skipped):
    index, record, bad = future.result()
    skipped[index] = bad
    if record is not None:
        yield record


def _image_template(iterator):
    """A copy of an image iterator without its file list (what a worker needs to read a shard's
    files as the driver would); None for any other iterator."""
    if not (isinstance(iterator, RecordReaderDataSetIterator)
            and isinstance(iterator.reader, ImageRecordReader)):
        return None
    template = copy.copy(iterator)
    template.reader = _reader_for(iterator.reader, [])
    return template


def _reader_for(reader, paths):
    """A copy of ``reader`` over ``paths`` that keeps the full list's labels (one-hot columns)."""
    labels = reader.get_labels()
    copied = copy.copy(reader)
    copied.initialize(InputSplit(paths))
    if labels:
        copied.set_labels(labels)
    return copied


def _parts(iterator, template):
    """(shard index, what the worker needs for it): file paths for an image iterator, else the
    batch read here."""
    if template is None:
        yield from enumerate(iterator)
        return
    paths, size = [str(p) for p in iterator.reader.paths], iterator.batch_size
    for index, start in enumerate(range(0, len(paths), size)):
        yield index, paths[start:start + size]


def _featurize_part(payload, part, directory, name, task, index):
    """On a worker: read the part (decode its images), featurize, write the shard. Returns
    (index, shard record or None when no image decoded, [(path, reason)] skipped)."""
    helper = _worker_helper(payload["network"])
    batch, skipped = part, []
    if payload["template"] is not None:
        batch, skipped = _read_images(payload["template"], part)
    if batch is None:
        return index, None, skipped
    return index, task(helper, batch, directory, name), skipped


def _read_images(template, paths):
    """The batch of ``paths`` as the driver's iterator would give it, and the files skipped."""
    iterator = copy.copy(template)
    iterator.reader = _reader_for(template.reader, paths)
    iterator.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the driver warns, once per skipped file
        batch = iterator.next() if iterator.has_next() else None
    return batch, list(iterator.reader.skipped)


_HELPERS = {}


def _worker_helper(network_payload):
    """The TransferLearningHelper of the shipped network, made once per worker process."""
    from transfer.helper import TransferLearningHelper
    token = network_payload["token"]
    if token not in _HELPERS:
        _HELPERS.clear()
        _HELPERS[token] = TransferLearningHelper(worker_network(network_payload))
    return _HELPERS[token]


def _forget_helper(token):
    from minidl.scaleout.shipping import _forget_here
    _HELPERS.pop(token, None)
    _forget_here(token)


def _report_skipped(iterator, skipped):
    """The workers' skipped files, in file order: a warning each, listed in the driver's reader
    as the single-process run lists them."""
    for index in sorted(skipped):
        for path, reason in skipped[index]:
            warnings.warn(f"ImageRecordReader: skipping {path}: {reason}", stacklevel=4)
            iterator.reader.skipped.append((path, reason))


def _remove_orphans(directory):
    """Temporary files of shard writes that a dying worker left (no task runs any more)."""
    for path in glob.glob(os.path.join(directory, ".shard-*.tmp")):
        os.unlink(path)
