#!/bin/sh
# Set up rrr on a fresh Debian/Ubuntu machine: the sandbox and the languages' toolchains (system
# packages), then rrr itself with the CPU build of PyTorch.
#   sh scripts/install.sh          # rrr for use
#   sh scripts/install.sh --dev    # plus the test tools and the plugins under plugins/ (editable)
set -eu
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# bubblewrap: the sandbox. The rest: toolchains for cpp, java (+ javatuples), php, ts, cs, sh, js,
# and go for the plugin plugins/rrr-go.
PACKAGES="bubblewrap g++ default-jdk-headless libjavatuples-java php-cli nodejs node-typescript
mono-mcs mono-runtime bash golang-go"
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
    echo "installing system packages:$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PIP="python3 -m pip"
# The CPU build of torch first: a plain `torch` requirement would pull a multi-GB CUDA build.
python3 -c "import torch" 2>/dev/null || $PIP install -q "torch==2.13.0"
extras="train"
if [ "${1:-}" = "--dev" ]; then extras="train,dev"; fi
# llama-cpp-python builds from source the first time (about 5 minutes on 2 cores).
$PIP install -q -e ".[$extras]"
if [ "${1:-}" = "--dev" ]; then
    # The plugins whose tests the test suite runs: a language (Go) and an example scorer.
    $PIP install -q -e ./plugins/rrr-go -e ./plugins/rrr-scorer-example
fi
echo "rrr installed: $(rrr --version)" >&2
