# quantd in a container: Debian bookworm, built in one stage, run from a slim one as a non-root
# user, with the state directory (database, job directories, checkpoints) on a volume.
#
#   docker build -t quantd .
#   docker volume create quantd
#   # listening on 0.0.0.0 needs a token first (quantd refuses to serve beyond loopback without):
#   docker run --rm -v quantd:/var/lib/quantd quantd token create --team lab
#   docker run -d --name quantd -p 8080:8080 -v quantd:/var/lib/quantd quantd
#   curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/jobs
#
# Settings: QUANTD_<OPTION> environment variables (docker run -e QUANTD_WORKERS=2 ...) or
# arguments after the image name (serve --workers 2). On `docker stop` (SIGTERM) running jobs
# are requeued; give it time with --stop-timeout 60.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config libopenblas-dev libmicrohttpd-dev libjansson-dev \
      libsqlite3-dev libuv1-dev zlib1g-dev libssl-dev libsystemd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# portable code: no -march=native, the image runs on other machines than the one building it
RUN make -j"$(nproc)" OPT=-O3 bin/quantd

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libopenblas0-pthread libmicrohttpd12 libjansson4 libsqlite3-0 libuv1 zlib1g libssl3 \
      libsystemd0 libgomp1 curl ca-certificates dataset-fashion-mnist \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/quantd --create-home --shell /usr/sbin/nologin quantd
COPY --from=build /src/bin/quantd /usr/local/bin/quantd
COPY --from=build /src/models /usr/local/share/quantd/models
ENV QUANTD_STATE=/var/lib/quantd \
    QUANTD_MODELS=/usr/local/share/quantd/models \
    QUANTD_LISTEN=0.0.0.0:8080
VOLUME ["/var/lib/quantd"]
EXPOSE 8080
USER quantd
WORKDIR /var/lib/quantd
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/quantd"]
CMD ["serve"]
