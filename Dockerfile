# vodflow api / bridge / worker image (one binary, the role is the command).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      clang pkg-config protobuf-compiler libavcodec-dev libavformat-dev libavfilter-dev \
      libavdevice-dev libswscale-dev libswresample-dev libavutil-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --bin vodflow

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates ffmpeg && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/vodflow /usr/local/bin/vodflow
ENV VODFLOW_API_LISTEN=0.0.0.0:8080
EXPOSE 8080
CMD ["vodflow", "dev"]
