# syntax=docker/dockerfile:1
# mediastore: a release build in a Rust image, run as a non-root user on Debian slim.
#
#   docker build -t mediastore .
#   docker run --rm -p 127.0.0.1:8080:8080 -v mediastore-data:/data mediastore
#
# The first start with an empty database prints `admin token: <token>` once (docker logs).
# Other commands run through the same entrypoint, e.g.
#   docker run --rm -v mediastore-data:/data mediastore token create --username admin

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# The whole workspace: Cargo.toml/Cargo.lock, src/ (with src/build.rs), projections/,
# benches/ (declared in Cargo.toml) and migrations/ (embedded by sqlx::migrate! at compile time).
COPY . .
# BuildKit cache mounts keep the registry and target/ between builds; the binary is copied out
# of the cached target/ because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin mediastore \
    && install -D -m 0755 target/release/mediastore /out/mediastore

FROM ${RUNTIME_IMAGE} AS runtime
# ca-certificates follows the base image's security updates rather than a pinned version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 mediastore \
    && useradd --system --uid 10001 --gid mediastore --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin mediastore \
    && mkdir -p /data \
    && chown mediastore:mediastore /data
COPY --from=builder /out/mediastore /usr/local/bin/mediastore

# Listen on every interface inside the container; blobs (and the default SQLite database,
# when DATABASE_URL is unset) live in the /data volume; JSON log lines on stderr.
ENV MEDIASTORE_BIND=0.0.0.0:8080 \
    MEDIASTORE_DATA_DIR=/data \
    MEDIASTORE_LOG_FORMAT=json \
    RUST_LOG=info

# Numeric, so that runtimes checking "non-root" (Kubernetes runAsNonRoot) can tell.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# No curl or wget in the slim image: bash's /dev/tcp asks /readyz (database and blob store
# reachable) on the port MEDIASTORE_BIND names.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>\"/dev/tcp/127.0.0.1/${MEDIASTORE_BIND##*:}\" && printf 'GET /readyz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

ENTRYPOINT ["/usr/local/bin/mediastore"]
CMD ["serve"]
