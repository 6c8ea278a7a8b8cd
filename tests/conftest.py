"""Fixtures shared by every test package: a local HTTP server for download tests (no test touches
the network) and a temporary cache folder.

``local_http.add("/f.bin", data, errors=1, drop_after=100)`` serves ``data`` at ``/f.bin``; the
first ``errors`` requests get a 500, the next ``drops`` requests (default 1 when ``drop_after`` is
set) send only ``drop_after`` bytes of the body and hang up. Range requests are honoured.
``local_http.log`` lists (path, Range header or None, status) per request.
"""

import http.server
import threading

import pytest


class _Route:
    def __init__(self, data, errors, drop_after, drops):
        self.data, self.errors, self.drop_after = data, errors, drop_after
        self.drops = drops if drop_after is not None else 0


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        server = self.server
        route = server.routes.get(self.path)
        range_header = self.headers.get("Range")
        if route is None:
            return self._status(404, range_header)
        if route.errors > 0:
            route.errors -= 1
            return self._status(500, range_header)
        start = int(range_header.split("=")[1].split("-")[0]) if range_header else 0
        if start >= len(route.data) and range_header:
            return self._status(416, range_header)
        body = route.data[start:]
        server.log.append((self.path, range_header, 206 if range_header else 200))
        self.send_response(206 if range_header else 200)
        self.send_header("Content-Length", str(len(body)))
        if range_header:
            self.send_header("Content-Range", f"bytes {start}-{len(route.data) - 1}/{len(route.data)}")
        self.end_headers()
        if route.drops > 0:
            route.drops -= 1
            self.wfile.write(body[:route.drop_after])  # then hang up mid-body
            self.close_connection = True
            return
        self.wfile.write(body)

    def _status(self, code, range_header):
        self.server.log.append((self.path, range_header, code))
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


class LocalHttpServer:
    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.routes, self.httpd.log = {}, []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def log(self):
        return self.httpd.log

    def add(self, path, data, *, errors=0, drop_after=None, drops=1):
        self.httpd.routes[path] = _Route(data, errors, drop_after, drops)
        return self.url(path)

    def url(self, path):
        host, port = self.httpd.server_address
        return f"http://{host}:{port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local_http():
    server = LocalHttpServer()
    yield server
    server.close()


@pytest.fixture
def minidl_home(tmp_path, monkeypatch):
    """Point the cache (``MINIDL_HOME``) at a fresh temporary folder."""
    home = tmp_path / "minidl_home"
    monkeypatch.setenv("MINIDL_HOME", str(home))
    return home


# -- devices ---------------------------------------------------------------------------------
def _gpu_available():
    from minidl.backend import gpu_available
    return gpu_available()


@pytest.fixture(scope="session")
def cuda_emulator(tmp_path_factory):
    """minidl's CUDA kernels compiled for the CPU by g++ (skips where g++ is missing)."""
    from emulated_gpu.kernels import GXX, Emulator
    if GXX is None:
        pytest.skip("g++ is not installed: the CUDA kernels cannot be emulated")
    return Emulator(str(tmp_path_factory.mktemp("cuda_emulator")))


def _emulate_gpu(request):
    """Make ``fake_cupy`` minidl's CuPy and the emulated kernels its CUDA kernels."""
    from emulated_gpu import fake_cupy
    from minidl import backend
    monkeypatch = request.getfixturevalue("monkeypatch")
    request.getfixturevalue("cuda_emulator").install(monkeypatch, fake_cupy.module)
    monkeypatch.setattr(backend, "_cupy", fake_cupy.module)


@pytest.fixture(params=["cpu", "gpu-emulated", pytest.param("gpu", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not _gpu_available(), reason="no CUDA device with CuPy")])])
def device(request):
    """Run a test once per backend: yields ``"cpu"`` or ``"gpu"``, made the default device.

    ``gpu-emulated`` is the GPU code path on the CPU (``tests/emulated_gpu``): ``fake_cupy`` for
    CuPy and the CUDA kernels compiled by g++; it yields ``"gpu"``. The real ``gpu`` case is
    marked ``gpu`` (kept out of the default run) and skips without a CUDA device.
    Move arrays with ``minidl.backend.to_device(a, device)`` and back with ``to_cpu(a)``.
    """
    from minidl.backend import set_device
    if request.param == "gpu-emulated":
        _emulate_gpu(request)
    name = "cpu" if request.param == "cpu" else "gpu"
    set_device(name)
    yield name
    set_device("cpu")
