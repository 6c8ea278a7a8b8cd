#!/usr/bin/env bash
# Fill .gpu_wheels/ with the wheels bench/gpu_check.sh may need on a GPU machine that has CuPy
# and PyTorch but no internet: minidl's runtime dependencies and pytest, for CPython 3.10-3.13
# on x86-64 Linux. Run it here (where a package registry answers), then carry .gpu_wheels
# to the GPU machine with the working tree; gpu_check.sh installs from it only what is missing.
set -eu
cd "$(dirname "$0")/.."
DEST=.gpu_wheels
mkdir -p "$DEST"
PURE="requests urllib3 idna certifi charset-normalizer tqdm pytest pluggy iniconfig packaging pygments
      exceptiongroup tomli typing-extensions"  # (the last three: pytest on Python 3.10)
python -m pip download -q --no-deps --only-binary=:all: --implementation py --abi none \
  --platform any --python-version 3.10 -d "$DEST" $PURE
for v in 3.10 3.11 3.12 3.13; do
  python -m pip download -q --no-deps --only-binary=:all: --python-version "$v" \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d "$DEST" pillow
done
ls "$DEST"
du -sh "$DEST"
