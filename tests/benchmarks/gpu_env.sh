#!/usr/bin/env bash
# The Python environment for `make bench-gpu` on a lent GPU machine, which has no package
# registry (README: "GPU machine").
#
#   tests/benchmarks/gpu_env.sh pack           # here: cp312 wheels -> .whl/gpu-site.tar.xz (~59 MB)
#   tests/benchmarks/gpu_env.sh unpack         # there: a venv in /tmp/gpuenv over the image's torch
#   tests/benchmarks/gpu_env.sh pack-drills    # here: the drills' packages, HAProxy, Prometheus -> .whl-drills/
#   tests/benchmarks/gpu_env.sh unpack-drills  # there, after unpack: adds them to /tmp/gpuenv
#
# Two packs because one `run` call carries at most 64 MiB: the first call carries .whl and
# unpacks, the next (on the still-warm machine) carries .whl-drills.
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
# pandas too: the image's is built for its numpy 2 (pandas 3.1 refuses numpy < 2.0.2).
PACKAGES=(nvidia-pytriton==0.7.0 numpy==1.26.4 pandas==3.0.6 tritonclient==2.73.0 python-rapidjson==1.25 pyzmq==27.3.0 sh==2.4.0
          protobuf==6.33.6 pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5
          gevent==26.9.0 geventhttpclient==2.6.1 greenlet==3.3.2 zope.event==6.2 zope.interface==8.7 brotli==1.2.1)
PLATFORMS=(--platform manylinux_2_35_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_26_x86_64
           --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
# What the drills need beyond the node and the benchmark, on the embedded environment:
# Locust, Chaos Toolkit and their own needs (the Kubernetes and S3 clients are imported only
# by those platforms and stores, so they stay behind).
DRILL_PACKAGES=(locust==2.47.0 flask==3.1.3 flask-cors==6.0.5 flask-login==0.6.3 blinker==1.9.0 itsdangerous==2.2.0
                configargparse==1.9.0 python-socketio==5.18.1 python-engineio==4.15.1 bidict==0.24.1 simple-websocket==1.1.0
                wsproto==1.3.2 chaostoolkit==1.19.0 chaostoolkit-lib==1.44.0 chaostoolkit-prometheus==0.6.0 logzero==1.7.0
                click-plugins==1.1.1.2 importlib-metadata==10.2.0 lazy-importer==0.1.0 python-json-logger==4.2.0
                prometheus-api-client==0.7.2 dateparser==1.5.0 tzlocal==5.4.5 pytz==2026.6 tzdata==2026.6 maya==0.6.1
                pendulum==3.3.0 aiohttp-retry==2.9.1)
SDIST_ONLY=(snaptime==0.2.4)  # pure Python with no wheel on PyPI: built into one here
# HAProxy and Prometheus from this machine's Debian 12, with the libraries HAProxy links that
# an Ubuntu CUDA image may lack; `unpack-drills` names any other that is missing there.
DEBS=(haproxy prometheus liblua5.3-0 libopentracing-c-wrapper0 libopentracing1)
# The defaults are the GPU machine's; gpu_rehearse.sh overrides them to rehearse here.
PYVER=${GPU_PYTHON_VERSION:-3.12}
IMAGE_PYTHON=${IMAGE_PYTHON:-python3}
ENV=${GPU_ENV:-/tmp/gpuenv}
SITE_PACK=${SITE_PACK:-.whl/gpu-site.tar.xz}
DRILL_PACK=${DRILL_PACK:-.whl-drills/gpu-drills.tar}

pack() {
    local site
    site=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
        "${PLATFORMS[@]}" -d "$site/wheels" "${PACKAGES[@]}"
    python3 -m pip install -q --no-deps --no-compile --only-binary=:all: --python-version "$PYVER" --implementation cp \
        "${PLATFORMS[@]}" --target "$site/site-packages" "$site"/wheels/*.whl
    mkdir -p "$(dirname "$SITE_PACK")"
    tar -cJf "$SITE_PACK" -C "$site" site-packages
    rm -rf "$site"
    ls -l "$SITE_PACK"
}

unpack() {
    local image_site packages
    image_site=$("$IMAGE_PYTHON" -c 'import site; print(site.getsitepackages()[0])')
    rm -rf "$ENV"
    "$IMAGE_PYTHON" -m venv --without-pip "$ENV"
    packages=$("$ENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')
    tar -xJf "$SITE_PACK" -C "$packages" --strip-components=1
    echo "$image_site" >"$packages/zz-image-site-packages.pth"  # after ours: numpy<2 wins, torch comes from the image
    # Everything the node and the bench import, so a package the image builds against numpy 2
    # only (pyarrow >= 23 is one) fails here, by name, before any device time is spent on Triton.
    "$ENV/bin/python" -c 'import numpy, torch, pandas, pyarrow, pytriton, zmq, gevent, pydantic, tritonclient.grpc, tritonclient.http
print("numpy", numpy.__version__, "torch", torch.__version__, "cuda", torch.cuda.is_available(),
      "pandas", pandas.__version__, "pyarrow", pyarrow.__version__)'
}

pack_drills() {
    local work
    work=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
        "${PLATFORMS[@]}" -d "$work/wheels" "${DRILL_PACKAGES[@]}"
    python3 -m pip wheel -q --no-deps -w "$work/wheels" "${SDIST_ONLY[@]}"
    python3 -m pip install -q --no-deps --no-compile --only-binary=:all: --python-version "$PYVER" --implementation cp \
        "${PLATFORMS[@]}" --target "$work/pack/site-packages" "$work"/wheels/*.whl
    mkdir -p "$work/pack/debs" "$(dirname "$DRILL_PACK")"
    (cd "$work/pack/debs" && apt-get download -qq "${DEBS[@]}" 2>/dev/null)
    tar -cf "$DRILL_PACK" -C "$work/pack" site-packages debs  # the .debs are compressed already
    rm -rf "$work"
    ls -l "$DRILL_PACK"
}

# The binaries land in $ENV/sys (dpkg -x, never into /); $ENV/bin gets a haproxy that finds
# its carried libraries and links to prometheus and promtool, so `PATH=$ENV/bin:$PATH` is all
# drillkit needs (it looks them up on PATH).
unpack_drills() {
    local packages missing
    packages=$("$ENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')
    tar -xf "$DRILL_PACK" -C "$packages" --strip-components=1 site-packages
    tar -xf "$DRILL_PACK" -C "$ENV" debs
    for deb in "$ENV"/debs/*.deb; do dpkg -x "$deb" "$ENV/sys"; done
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/sys/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s/sys/usr/sbin/haproxy "$@"\n' \
        "$ENV" "$ENV" >"$ENV/bin/haproxy"
    chmod +x "$ENV/bin/haproxy"
    ln -sf "$ENV/sys/usr/bin/prometheus" "$ENV/sys/usr/bin/promtool" "$ENV/bin/"
    missing=$(LD_LIBRARY_PATH="$ENV/sys/usr/lib/x86_64-linux-gnu" ldd "$ENV/sys/usr/sbin/haproxy" | grep 'not found' || true)
    if [ -n "$missing" ]; then echo "haproxy lacks libraries here: $missing (add their Debian packages to DEBS)" >&2; exit 1; fi
    "$ENV/bin/haproxy" -v | head -1
    "$ENV/bin/prometheus" --version 2>&1 | head -1
    # matplotlib renders the reports: the image's must work with numpy 1.26 too
    "$ENV/bin/python" -c 'import locust, chaoslib, chaosprometheus, matplotlib.pyplot, drillkit.cli; print("locust", locust.__version__)'
}

case "${1:-}" in
    pack) pack ;;
    unpack) unpack ;;
    pack-drills) pack_drills ;;
    unpack-drills) unpack_drills ;;
    *) echo "usage: $0 pack|unpack|pack-drills|unpack-drills" >&2; exit 2 ;;
esac
