#!/bin/sh
# Gather numabench's build and test dependencies as unpacked Debian packages
# in DIR (default .device-deps, ignored by git), for a GPU machine that has
# CMake and nvcc but no package registry: carry DIR there, then
#
#   . DIR/env.sh && cmake -S . -B build-gpu && cmake --build build-gpu -j
#   bench/gpu-check.sh build-gpu "$OUT/gpu-check"
#
# env.sh points pkg-config (PKG_CONFIG_SYSROOT_DIR), CMake, the loader and
# PATH (jq, pkg-config) at DIR. Needs apt-get (run `apt-get update` first);
# no root: packages are downloaded and unpacked, never installed.
set -eu
dir=${1:-.device-deps}
pkgs="libhwloc15 libhwloc-dev libudev1 libltdl7 libltdl-dev libnuma1 libnuma-dev libjansson4 libjansson-dev
libgsl27 libgslcblas0 libgsl-dev libinih1 libinireader0 libinih-dev libcmocka0 libcmocka-dev libnettle8 nettle-dev
jq libjq1 libonig5 pkgconf pkgconf-bin libpkgconf3"
command -v apt-get >/dev/null || { echo "device-deps: apt-get is needed" >&2; exit 2; }
mkdir -p "$dir/debs" "$dir/root"
# shellcheck disable=SC2086
(cd "$dir/debs" && apt-get download $pkgs) || {
  echo "device-deps: apt-get download failed (run apt-get update first?)" >&2
  exit 1
}
n=0
for deb in "$dir"/debs/*.deb; do
  dpkg -x "$deb" "$dir/root"
  n=$((n + 1))
done
rm -rf "$dir/debs" # what travels is the unpacked tree alone
root=$(cd "$dir/root" && pwd)
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
# Paths relative to where env.sh is sourced from, so DIR may travel.
cat >"$dir/env.sh" <<ENV
# Source from the repository root on the machine DIR was carried to.
nb_deps=\$(cd "$dir/root" && pwd)
export PKG_CONFIG_SYSROOT_DIR=\$nb_deps
export PKG_CONFIG_LIBDIR=\$nb_deps/usr/lib/$arch/pkgconfig:\$nb_deps/usr/share/pkgconfig
export CMAKE_PREFIX_PATH=\$nb_deps/usr\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}
export LD_LIBRARY_PATH=\$nb_deps/usr/lib/$arch:\$nb_deps/lib/$arch\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export PATH=\$PATH:\$nb_deps/usr/bin
command -v pkg-config >/dev/null 2>&1 || export PKG_CONFIG=\$nb_deps/usr/bin/pkgconf
ENV
echo "device-deps: $n packages unpacked in $root ($(du -sh "$dir" | cut -f1)); source $dir/env.sh"
