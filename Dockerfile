# The dispatcher image: `rod serve`. Build: docker build -t runners-on-demand .
# The Nomad job deploy/nomad/rod.nomad.hcl runs it; docker-compose.yml runs it beside a dev agent.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY simulator ./simulator
# Only the service's own dependencies: the emulators' extras (`[sim]`) stay out of the image.
RUN pip install . && rm -rf /src

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin rod

# The acceptance suite's Nomad dev agent (`behave -D backend=compose`, docker-compose.yml service
# `nomad-runners`): real Nomad in an image that also has this package, so the runner job's task,
# switched to raw_exec, runs the fake runner (`python -m simulator.runner`). Not for production.
FROM base AS nomad-agent
# The official image is busybox plus the nomad binary in /bin.
COPY --from=hashicorp/nomad:1.11.2 /bin/nomad /usr/local/bin/nomad
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
