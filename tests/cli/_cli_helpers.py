"""Helpers of the command-line tests: run ``dezero`` in a subprocess, read metrics."""
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))


def subprocess_env():
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def dezero_cmd(*argv):
    return [sys.executable, "-m", "dezero", *map(str, argv)]


def run_subprocess(*argv, cwd, **kwargs):
    return subprocess.run(dezero_cmd(*argv), cwd=cwd, env=subprocess_env(), capture_output=True,
                          text=True, timeout=300, **kwargs)


def metrics_rows(folder):
    import csv

    with open(os.path.join(folder, "metrics.csv"), newline="") as f:
        return list(csv.DictReader(f))


def read_events(folder):
    """``({tag: [(step, value)]}, {tag of an image})`` from TensorBoard event files.

    The files are TFRecords of ``Event`` protos: length (8 bytes), its CRC (4), the record,
    its CRC (4); the protos are parsed with the classes tensorboardX ships.
    """
    import struct

    from tensorboardX.proto.event_pb2 import Event

    scalars, images = {}, set()
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            blob = f.read()
        pos = 0
        while pos + 12 <= len(blob):
            (length,) = struct.unpack("<Q", blob[pos:pos + 8])
            event = Event.FromString(blob[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                if value.HasField("image"):
                    images.add(value.tag)
                else:
                    scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars, images
