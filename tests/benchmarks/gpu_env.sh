#!/usr/bin/env bash
# The Python environment for `make bench-gpu` on a lent GPU machine, which has no package
# registry (README: "GPU machine").
#
#   tests/benchmarks/gpu_env.sh pack     # here: cp312 wheels -> .whl/gpu-site.tar.xz (~50 MB)
#   tests/benchmarks/gpu_env.sh unpack   # there: a venv in /tmp/gpuenv over the image's torch
#
# Why a venv and not PYTHONPATH: Triton's Python-backend stub embeds the interpreter of the
# node's environment (sys.exec_prefix) and ignores PYTHONPATH, and it needs numpy<2 (its
# BYTES decoding fails under numpy 2: "unpack_from requires a buffer of at least ...") and
# pyzmq, which the image lacks. So the packages go into the venv's own site-packages, and a
# .pth file appends the image's site-packages (torch, pandas, ...) behind them.
set -euo pipefail
cd "$(dirname "$0")/../.."

# What drillkit's node and this benchmark import that the image lacks (its package list: the
# device README's KINDS.md), at the versions of this project's venv; one version of each.
PACKAGES=(nvidia-pytriton==0.7.0 numpy==1.26.4 tritonclient==2.73.0 python-rapidjson==1.25 pyzmq==27.3.0 sh==2.4.0
          protobuf==6.33.6 pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5
          gevent==26.9.0 geventhttpclient==2.6.1 greenlet==3.3.2 zope.event==6.2 zope.interface==8.7 brotli==1.2.1)
PLATFORMS=(--platform manylinux_2_35_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_26_x86_64
           --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
ENV=/tmp/gpuenv

pack() {
    local site
    site=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${PLATFORMS[@]}" -d "$site/wheels" "${PACKAGES[@]}"
    python3 -m pip install -q --no-deps --no-compile --only-binary=:all: --python-version 3.12 --implementation cp \
        "${PLATFORMS[@]}" --target "$site/site-packages" "$site"/wheels/*.whl
    mkdir -p .whl
    tar -cJf .whl/gpu-site.tar.xz -C "$site" site-packages
    rm -rf "$site"
    ls -l .whl/gpu-site.tar.xz
}

unpack() {
    local image_site packages
    image_site=$(python3 -c 'import site; print(site.getsitepackages()[0])')
    rm -rf "$ENV"
    python3 -m venv --without-pip "$ENV"
    packages=$("$ENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')
    tar -xJf .whl/gpu-site.tar.xz -C "$packages" --strip-components=1
    echo "$image_site" >"$packages/zz-image-site-packages.pth"  # after ours: numpy<2 wins, torch comes from the image
    # Everything the node and the bench import, so a package the image builds against numpy 2
    # only (pyarrow >= 23 is one) fails here, by name, before any device time is spent on Triton.
    "$ENV/bin/python" -c 'import numpy, torch, pandas, pyarrow, pytriton, zmq, gevent, pydantic, tritonclient.grpc, tritonclient.http
print("numpy", numpy.__version__, "torch", torch.__version__, "cuda", torch.cuda.is_available(),
      "pandas", pandas.__version__, "pyarrow", pyarrow.__version__)'
}

case "${1:-}" in
    pack) pack ;;
    unpack) unpack ;;
    *) echo "usage: $0 pack|unpack" >&2; exit 2 ;;
esac
