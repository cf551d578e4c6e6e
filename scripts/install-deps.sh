#!/usr/bin/env bash
# Installs the Debian packages memo-swift builds and runs with (idempotent; needs root or sudo).
set -euo pipefail
packages=(libhdf5-dev hdf5-tools libpng-dev libturbojpeg0-dev libdnnl-dev zlib1g-dev libzip-dev pkgconf dataset-fashion-mnist
          libopenmpi-dev openmpi-bin librsvg2-2 fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
