#!/bin/sh
# Builds the image and checks it as a user would: the demo runs in it (offline), `check`
# reads a configuration copied into the volume on first start, and the process runs as
# `nobody`. Needs docker, or podman (CONTAINER=podman), and the network to pull the base
# images; CI machines without a container engine cannot run it.
set -eu
engine="${CONTAINER:-docker}"
tag="banditore:check-$$"
volume="banditore-check-$$"
cd "$(dirname "$0")/.."
$engine build -t "$tag" .
trap '$engine volume rm -f "$volume" >/dev/null 2>&1 || true; $engine rmi -f "$tag" >/dev/null 2>&1 || true' EXIT
$engine run --rm "$tag" demo --exit | grep -q "first poll"
test "$($engine run --rm --entrypoint id "$tag" -u)" = 65534
$engine volume create "$volume" >/dev/null
$engine run --rm -v "$volume":/var/lib/banditore -v "$PWD/sources.toml":/etc/banditore/sources.toml:ro \
    "$tag" check
$engine run --rm -v "$volume":/var/lib/banditore --entrypoint sh "$tag" \
    -c 'test -f /var/lib/banditore/sources.toml && test "$(stat -c %a /var/lib/banditore/sources.toml)" = 600'
echo "image ok: $tag"
