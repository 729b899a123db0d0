#!/usr/bin/env bash
# Rehearse the GPU machine's procedure here, short of the GPU (README "The GPU drills there"):
# a stand-in for the image's interpreter, both packs for this machine's Python, unpack,
# unpack-drills, a short bench-gpu with its fault stages, and the gpu suite, all in /tmp and
# none of it in .whl/. Not part of `make test`: about 11 min on the 2-core machine.
#
#   tests/benchmarks/gpu_rehearse.sh    # the suite's folder and bench JSON go to /tmp/gpu-rehearsal/
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=/tmp/gpu-rehearsal
IMAGE=$OUT/image
# What the image holds of drillkit's needs (device README's KINDS.md), at the versions pip picks
# today, as on the image: numpy 2 and a pandas built for it. torch is this machine's CPU build.
IMAGE_PACKAGES=(torch==2.13.0 "numpy>=2" pandas pyarrow==22.0.0 matplotlib ml-dtypes typing-inspect wrapt aiohttp
                requests rich typer pyyaml psutil uvloop prometheus-client werkzeug jinja2 msgpack grpcio protobuf
                python-dateutil regex click attrs packaging filelock)
# Pulled in by those here but not on the image, so a carried pack must bring them.
NOT_ON_IMAGE=(pydantic pydantic-core annotated-types typing-inspection tzdata)

rm -rf "$OUT" && mkdir -p "$OUT"
python3 -m venv "$IMAGE"
"$IMAGE/bin/pip" install -q "${IMAGE_PACKAGES[@]}"
"$IMAGE/bin/pip" uninstall -q -y "${NOT_ON_IMAGE[@]}"
export IMAGE_PYTHON=$IMAGE/bin/python GPU_ENV=$OUT/gpuenv
export GPU_PYTHON_VERSION=$(python3 -c 'import sys; print(f"{sys.version_info.major}.{sys.version_info.minor}")')
export SITE_PACK=$OUT/packs/gpu-site.tar.xz DRILL_PACK=$OUT/packs/gpu-drills.tar
tests/benchmarks/gpu_env.sh pack
tests/benchmarks/gpu_env.sh pack-drills
tests/benchmarks/gpu_env.sh unpack
tests/benchmarks/gpu_env.sh unpack-drills
export PATH=$GPU_ENV/bin:$PATH
make bench-gpu NO_SETUP=1 PY="$GPU_ENV/bin/python" BENCH_GPU_ARGS="--items 50000 --rates 100 --processes 1 --threads 4 \
    --duration-s 5 --warmup-s 2 --faults compute,memory --repo $OUT/bench-repo --json $OUT/bench-gpu.json"
python -m drillkit suite drills/suites/gpu.yaml --reports "$OUT/reports" --json >"$OUT/suite.json"
echo "rehearsal passed: $OUT/suite.json, $OUT/bench-gpu.json"
