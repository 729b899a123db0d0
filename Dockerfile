# The drillkit image: `drillkit` with HAProxy and Prometheus, for scheduled suites
# (`drillkit schedule SUITE --cron ...` prints a CronJob that runs it).
#
#   docker build -t drillkit:latest .
#   docker run --rm -v "$PWD/reports:/results" drillkit:latest suite drills/suites/smoke.yaml --reports /results
#
# CPU image: torch comes from PyTorch's CPU wheel index (the PyPI wheel is the multi-GB CUDA
# build). For a GPU image, start from an NVIDIA CUDA runtime base with Python 3.11 and build
# with `--build-arg TORCH_INDEX_URL=` (empty: the default CUDA wheel), then run it with the
# GPU exposed (`--gpus all`, or `nvidia.com/gpu: 1` in the pod's resources).
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# haproxy and prometheus are the gateway and metrics of the embedded environment; git lets
# the journal record the commit under test when the repository is mounted.
RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy prometheus git \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/drillkit
# torch first and on its own layer: it is the largest and changes least.
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}

COPY pyproject.toml README.md ./
COPY drillkit ./drillkit
RUN pip install --no-cache-dir .

# Drills, experiments and traces are read relative to the working directory.
COPY drills ./drills
COPY chaos ./chaos
COPY loadtests ./loadtests

# Results (run folders, suite folders, history.sqlite) belong on a volume.
VOLUME ["/results"]
ENTRYPOINT ["drillkit"]
CMD ["--help"]
