"""Every CUDA source in minidl/ops/cuda compiles (nvcc, for sm_90), with every kernel in it.

Runs wherever nvcc is installed, GPU or not, so a syntax or type error in a kernel cannot land
unseen on a machine without a GPU. Each file is compiled as NVRTC will compile it at run time
(common.cuh in front, C++17), plus one line that takes the address of every instantiation listed
in ``KERNELS`` (what NVRTC's name expressions do), warnings as errors. The files compile in
parallel; the test then checks that each instantiation is in the resulting cubin.
"""

import shutil
import subprocess

import pytest

from minidl.ops import cuda

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
ARCH = "sm_90"  # H100/H200; ptxas checks registers and shared memory for a real target


def _mangled(expression):
    """Itanium mangled-name prefix of ``kernel<float>`` / ``kernel<double>`` /
    ``kernel<half16>`` (a class: its name, length first)."""
    name, ctype = expression[:-1].split("<")
    argument = {"float": "f", "double": "d"}.get(ctype, f"{len(ctype)}{ctype}")
    return f"_Z{len(name)}{name}I{argument}E"


def _translation_unit(filename):
    refs = ", ".join(f"(void*)&{e}" for e in cuda.name_expressions(filename))
    return (cuda.source(filename)
            + "\n// Instantiate every kernel, as NVRTC does from the name expressions.\n"
            + f"extern void* const minidl_kernels[] = {{{refs}}};\n")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """{filename: (nvcc return code, output, cubin bytes or None)}, compiled in parallel."""
    folder = tmp_path_factory.mktemp("cuda")
    jobs = {}
    for filename in cuda.KERNELS:
        src = folder / filename
        src.write_text(_translation_unit(filename))
        cubin = folder / (src.stem + ".cubin")
        cmd = [NVCC, "-cubin", f"-arch={ARCH}", *cuda.options(filename), "-Werror", "all-warnings",
               "-o", str(cubin), str(src)]
        jobs[filename] = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                           text=True), cubin)
    results = {}
    for filename, (proc, cubin) in jobs.items():
        output, _ = proc.communicate(timeout=300)
        results[filename] = (proc.returncode, output,
                             cubin.read_bytes() if cubin.exists() else None)
    return results


@pytest.mark.parametrize("filename", sorted(cuda.KERNELS))
def test_compiles_with_every_kernel(compiled, filename):
    code, output, cubin = compiled[filename]
    assert code == 0, f"nvcc failed on minidl/ops/cuda/{filename}:\n{output}"
    for expression in cuda.name_expressions(filename):
        assert _mangled(expression).encode() in cubin, f"{expression} missing from the cubin"


def test_every_cu_file_is_listed():
    """A new .cu file must be registered in KERNELS, or it would never be compiled or tested."""
    on_disk = {p.name for p in __import__("pathlib").Path(cuda.HERE).glob("*.cu")}
    assert on_disk == set(cuda.KERNELS)


def test_activation_codes_match_the_source():
    """ACTIVATIONS in Python and the ACT_* defines in bias_activation.cu are one table."""
    text = cuda.source("bias_activation.cu")
    for name, code in cuda.ACTIVATIONS.items():
        assert f"#define ACT_{name.upper()} {code}\n" in text


def test_row_block_matches_the_source():
    assert f"#define ROW_BLOCK {cuda.ROW_BLOCK}\n" in cuda.source("softmax_xent.cu")


def _ptx(tmp_path, filename, opts):
    src = tmp_path / filename
    src.write_text(_translation_unit(filename))
    out = tmp_path / "out.ptx"
    done = subprocess.run([NVCC, "-ptx", f"-arch={ARCH}", *opts, "-o", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out.read_text()


def test_updaters_compile_without_fused_multiply_adds(tmp_path):
    """updaters.cu's steps are NumPy's to the bit only if no a * b + c is fused into one
    rounding: its options keep nvcc from emitting fma (which it does without them)."""
    assert "fma.rn" in _ptx(tmp_path, "updaters.cu", ("--std=c++17",))  # the control
    assert "fma.rn" not in _ptx(tmp_path, "updaters.cu", cuda.options("updaters.cu"))
