#!/usr/bin/env bash
# Installs what spsim needs and is missing: Open MPI, OpenBLAS, pkg-config, SimGrid (SMPI) (Debian packages)
# and numpy (for the cross-check against an independent implementation).
set -euo pipefail
packages=(libopenmpi-dev openmpi-bin libopenblas-dev pkg-config python3-pip libsimgrid-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! python3 -c "import numpy" 2>/dev/null; then
    python3 -m pip install --quiet numpy || python3 -m pip install --quiet --break-system-packages numpy
fi
