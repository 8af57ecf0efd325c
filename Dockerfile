# The images of runners-on-demand. Stages (docker build --target NAME):
#   rod          (default, last) `rod serve`; also ships the emulators, so `rod demo` runs in it
#   nomad-agent  the acceptance suite's Nomad dev agent (docker-compose.yml `nomad-runners`)
# `make docker-smoke` (scripts/docker_smoke.py) builds both and runs `nomad version`,
# `rod --version` and `rod demo` in them; tests/test_docker_files.py checks this file without Docker.

# python:3.11-slim-trixie (Python 3.11.16), pinned to its multi-arch index digest (amd64 and
# arm64), as resolved on 2026-08-18. Bump tag and digest together, deliberately.
FROM python:3.11-slim-trixie@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# constraints.tx[t]: the lock file when the project has one (a glob that may match nothing).
COPY pyproject.toml README.md constraints.tx[t] ./
# Dependencies first, in a layer that changes only with pyproject.toml or the lock: empty
# stand-ins for the sources (and the job spec the wheel ships) let pip resolve the requirements.
# The `[sim]` extra is installed in full: the image ships the emulators, so `rod demo` works.
RUN mkdir -p src/runners_on_demand simulator deploy/nomad \
 && touch src/runners_on_demand/__init__.py simulator/__init__.py \
          deploy/nomad/github-runner.nomad.hcl \
 && if [ -f constraints.txt ]; then lock="-c constraints.txt"; else lock=""; fi \
 && pip install $lock '.[sim]'
COPY src ./src
COPY simulator ./simulator
COPY deploy/nomad/github-runner.nomad.hcl ./deploy/nomad/
RUN pip install --no-deps --force-reinstall . && rm -rf /src && rod --version
# uvloop and httptools have wheels for both architectures: rod serve must not fall back here.
RUN python -c 'import uvloop, httptools'
WORKDIR /

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin rod

# The acceptance suite's Nomad dev agent (`behave -D backend=compose`, docker-compose.yml service
# `nomad-runners`): real Nomad in an image that also has this package, so the runner job's task,
# switched to raw_exec, runs the fake runner (`python -m simulator.runner`). Not for production.
FROM base AS nomad-agent
# The official image is busybox plus the nomad binary in /bin (hashicorp/nomad's Dockerfile:
# `COPY dist/$TARGETOS/$TARGETARCH/nomad /bin/`). Pinned by tag only: no digest for 1.11.2 was
# found in a public source to check it against.
COPY --from=hashicorp/nomad:1.11.2 /bin/nomad /usr/local/bin/nomad
# The copied binary must run on this Debian base: fail the build here rather than at `up`.
RUN nomad version
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["nomad"]
CMD ["agent", "-dev", "-bind=0.0.0.0"]

# The default (last) stage: `rod serve`.
FROM base AS rod
USER 10001:10001
WORKDIR /home/rod

EXPOSE 8080
ENTRYPOINT ["rod", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8080"]
