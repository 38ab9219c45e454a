# webhookd container image: built on Debian 12 from the same packages as the
# development machines, then only the runtime libraries are kept.
FROM debian:12-slim AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends build-essential pkg-config \
        librdkafka-dev libcurl4-openssl-dev libjansson-dev libhiredis-dev \
        libavro-dev libssl-dev libmicrohttpd-dev libmimalloc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY worker ./worker
COPY codecs ./codecs
RUN make -j"$(nproc)" all

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends librdkafka1 libcurl4 libjansson4 \
        libhiredis0.14 libavro23 libssl3 libmicrohttpd12 libmimalloc2.0 \
        ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 webhookd
COPY --from=build /src/build/default/webhookd /usr/local/bin/webhookd
USER 10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/webhookd"]
