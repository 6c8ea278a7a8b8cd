"""Getting a Dask client, and the checks every distributed job makes before any work.

Dask is imported inside the functions: ``import minidl`` never loads it (it is the optional
extra ``minidl[dask]``).
"""

import contextlib
import logging
import os
import uuid
import warnings


@contextlib.contextmanager
def cluster_client(workers=None, scheduler=None):
    """A ``dask.distributed.Client`` for the ``minidl`` command's ``--workers N`` /
    ``--scheduler ADDRESS``, closed on exit; None when neither is given (one process).

    ``workers``: a LocalCluster of that many worker processes on 127.0.0.1, one thread each (an
    autograd engine holds the GIL in its bookkeeping, so processes, not threads), no dashboard.
    ``scheduler``: the address of a running scheduler (``tcp://host:8786``) or a scheduler file
    written by ``dask scheduler --scheduler-file FILE``.
    """
    if workers is not None and scheduler is not None:
        raise ValueError("give workers (a local cluster) or scheduler (an existing one), not both")
    if workers is None and scheduler is None:
        yield None
        return
    Client = _dask_distributed().Client
    if scheduler is not None:
        key = "scheduler_file" if os.path.isfile(str(scheduler)) else "address"
        with Client(**{key: str(scheduler)}) as client:
            yield client
        return
    with local_cluster(workers) as cluster, Client(cluster) as client:
        yield client


def _dask_distributed():
    """``dask.distributed``, or a MissingDependencyError saying how to install it."""
    from minidl.io.optional import require
    return require("dask.distributed", "running on a Dask cluster")


def local_cluster(workers):
    """A LocalCluster of ``workers`` processes x 1 thread on 127.0.0.1, without the dashboard
    (its HTTP server still starts: on a free loopback port, so two clusters do not collide)."""
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return _dask_distributed().LocalCluster(
        n_workers=int(workers), threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)


def worker_count(client, timeout=60):
    """How many workers the client's cluster has now (DL4J's ``sc.defaultParallelism()``),
    waiting up to ``timeout`` seconds for a first one (workers of a cluster just started, or
    being restarted, may not have registered yet)."""
    count = len(client.scheduler_info(n_workers=-1)["workers"])
    if count == 0:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise RuntimeError(f"the Dask cluster at {client.scheduler.address} has no "
                               f"workers (waited {timeout} s)") from None
        count = len(client.scheduler_info(n_workers=-1)["workers"])
    return count


def _read_probe(path, token):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() == token
    except OSError:
        return False


def _write_probe(directory, token):
    path = os.path.join(directory, f".probe-{token}-{uuid.uuid4().hex}")
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(token)
    except OSError as error:
        return None, str(error)
    return path, None


def _probe_on_worker(directory, driver_probe, token):
    """On a worker: can it read the driver's probe and write one of its own in ``directory``?"""
    if not _read_probe(driver_probe, token):
        return None, f"cannot read {driver_probe} (is {directory} on a shared filesystem?)"
    return _write_probe(directory, token)


def check_shared_directory(client, directory):
    """Raise unless every worker of ``client`` reads and writes ``directory`` as the driver
    does: the driver writes a probe file there, each worker reads it and writes its own, which
    the driver reads back. A folder local to the driver's machine fails here, before any work."""
    directory = os.path.abspath(directory)
    token = uuid.uuid4().hex
    driver_probe, error = _write_probe(directory, token)
    if error:
        raise OSError(f"cannot write in {directory}: {error}")
    try:
        answers = client.run(_probe_on_worker, directory, driver_probe, token)
        problems = {}
        for address, (path, error) in sorted(answers.items()):
            if error is None and not _read_probe(path, token):
                error = f"wrote {path}, which the driver cannot read"
            if error is not None:
                problems[address] = error
            if path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(path)
    finally:
        os.unlink(driver_probe)
    if problems:
        detail = "; ".join(f"worker {a}: {e}" for a, e in problems.items())
        raise OSError(f"{directory} must be a folder every Dask worker sees (a shared "
                      f"filesystem at the same path): {detail}")


def _missing(paths):
    return [p for p in paths if not os.path.isfile(p)]


def check_files_visible(client, paths):
    """Raise unless every worker of ``client`` sees every file of ``paths`` (absolute), before
    any training: data files on the driver's local disk are a clear error, not a failed task."""
    problems = {address: missing for address, missing in
                sorted(client.run(_missing, list(paths)).items()) if missing}
    if problems:
        detail = "; ".join(f"worker {a} lacks {len(m)} file(s), e.g. {m[0]}"
                           for a, m in problems.items())
        raise FileNotFoundError(f"the data files must be on a filesystem every Dask worker sees "
                                f"at the same path: {detail}")


def _hold(value):
    return value


def ship(client, value, name):
    """A future of ``value`` for many tasks to read: each worker fetches it once, from the
    worker holding it, and keeps it while the future lives.

    Not ``client.scatter(..., broadcast=True)``: scattered data has no lineage (lost when its
    holders die), and a scatter while a worker dies can hang (measured with distributed
    2026.8: a SIGKILL during the replication left ``scatter`` waiting past its timeout). A task
    that returns ``value`` is recomputed elsewhere when its holder dies, as any task result.
    """
    with warnings.catch_warnings():  # a network's parameters: the graph is large on purpose
        warnings.filterwarnings("ignore", message="Sending large graph")
        return client.submit(_hold, value, key=f"minidl-{name}-{uuid.uuid4().hex}", pure=False)
