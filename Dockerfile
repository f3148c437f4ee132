# vodflow api / bridge / worker image (one binary, the role is the command).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      clang pkg-config protobuf-compiler cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --bin vodflow

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates ffmpeg curl \
      && rm -rf /var/lib/apt/lists/* \
      && useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin vodflow \
      && mkdir -p /work && chown vodflow:vodflow /work
COPY --from=build /src/target/release/vodflow /usr/local/bin/vodflow
# Listening beyond loopback: vodflow refuses to start until every secret (VODFLOW_AUTH_HS256_SECRET,
# VODFLOW_PLAYBACK_SIGNING_SECRET, VODFLOW_WEBHOOK_SECRET, VODFLOW_S3_ACCESS_KEY_ID,
# VODFLOW_S3_SECRET_ACCESS_KEY) is set in the environment. ffprobe and prlimit (util-linux) contain
# every libav child.
ENV VODFLOW_API_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER 65532
CMD ["vodflow", "dev"]
