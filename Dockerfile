# driftstream as a container: `docker compose up` (docker-compose.yml) runs it beside Kafka and
# Prometheus. The image holds the package and its compiled kernels; config, baseline and state
# are mounted.
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY streamer ./streamer
COPY detectors ./detectors
COPY sinks ./sinks
# The numba kernels are compiled here, once, into the installed package's __pycache__, so that
# no container compiles them at its start (streamer/app/prepare.py; the cache is for this CPU).
RUN pip install --no-cache-dir . && cd / && rm -rf /src \
    && python -m driftstream.streamer.app.prepare kernels

WORKDIR /var/lib/driftstream
# calibration results are cached here between restarts (a volume in docker-compose.yml)
ENV HOME=/var/lib/driftstream
EXPOSE 9108
ENTRYPOINT ["driftstream"]
CMD ["run", "--config", "/etc/driftstream/driftstream.yaml"]
