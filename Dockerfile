# The dispatcher image: `rod serve`. Build: docker build -t runners-on-demand .
# The Nomad job deploy/nomad/rod.nomad.hcl runs it; docker-compose.yml runs it beside a dev agent.
FROM python:3.11-slim

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
USER 10001:10001
WORKDIR /home/rod

EXPOSE 8080
ENTRYPOINT ["rod", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8080"]
