"""Reads TensorBoard event files back (the TFRecord framing: length, its crc, the serialized
Event, its crc), with tensorboardX's Event protobuf; no TensorFlow or tensorboard needed."""

import struct
from pathlib import Path


def read_events(log_dir):
    """{tag: [(step, value)]} of the scalars and {tag: [(step, histogram)]} of the histograms
    in every event file under ``log_dir``, in file order."""
    from tensorboardX.proto import event_pb2
    scalars, histograms = {}, {}
    for path in sorted(Path(log_dir).rglob("events.out.tfevents.*")):
        for record in _records(path.read_bytes()):
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                if value.HasField("histo"):
                    histograms.setdefault(value.tag, []).append((event.step, value.histo))
                else:
                    scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars, histograms


def _records(data):
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset:offset + 8])
        offset += 12  # the length and its crc
        yield data[offset:offset + length]
        offset += length + 4  # the record and its crc
