# Build: docker build -t banditore .
# Run:   docker run -v $PWD/sources.toml:/etc/banditore/sources.toml -v banditore-data:/var/lib/banditore banditore
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/banditore /usr/local/bin/banditore
ENV BANDITORE_CONFIG=/etc/banditore/sources.toml BANDITORE_DATA=/var/lib/banditore
USER nobody
ENTRYPOINT ["banditore"]
CMD ["run"]
