#!/usr/bin/env bash
# Downloads Debian's linux-source-<version> package with a private apt configuration and unpacks it.
# Why private: trixie-backports/sid in the system's sources at default priority would make a plain
# `apt-get install` upgrade the host to sid. Here nothing outside $cache is touched.
#
# usage: fetch-kernel-source.sh [VERSION|newest] [CACHE_DIR]   -> prints the unpacked tree's path
set -euo pipefail
want=${1:-newest}
cache=${2:-${DMEMFUZZ_CACHE:-$HOME/.cache/dmemfuzz}}
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/etc/preferences.d" "$cache/src"
cat >"$apt_dir/etc/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
SRC
apt_opts=(
  -o Dir::Etc::SourceList="$apt_dir/etc/sources.list"
  -o Dir::Etc::SourceParts=/dev/null
  -o Dir::Etc::Preferences="$apt_dir/etc/preferences"
  -o Dir::Etc::PreferencesParts="$apt_dir/etc/preferences.d"
  -o Dir::State="$apt_dir"
  -o Dir::State::Lists="$apt_dir/lists"
  -o Dir::State::status=/dev/null
  -o Dir::Cache="$apt_dir"
  -o Dir::Cache::Archives="$apt_dir/archives"
  -o APT::Architecture=amd64
  -o Debug::NoLocking=1
  -o APT::Sandbox::User=root
)
: >"$apt_dir/etc/preferences"
stamp=$apt_dir/lists/.updated
if [ ! -e "$stamp" ] || [ -n "$(find "$stamp" -mmin +720)" ]; then
  apt-get "${apt_opts[@]}" -qq update >&2 || { echo "fetch-kernel-source: apt-get update failed (private config in $apt_dir)" >&2; exit 1; }
  touch "$stamp"
fi
if [ "$want" = newest ]; then
  pkg=$(apt-cache "${apt_opts[@]}" pkgnames linux-source-7. | grep -E '^linux-source-7\.[0-9]+$' | sort -V | tail -n1)
else
  pkg=linux-source-$want
fi
[ -n "$pkg" ] || { echo "fetch-kernel-source: no linux-source-7.x package in trixie-backports or sid" >&2; exit 1; }
ver=${pkg#linux-source-}
tree=$cache/src/linux-source-$ver
if [ ! -e "$tree/.dmemfuzz-unpacked" ]; then
  (cd "$apt_dir/archives" && apt-get "${apt_opts[@]}" -qq download "$pkg" >&2) \
    || { echo "fetch-kernel-source: cannot download $pkg (try: $0 7.2 or 7.3)" >&2; exit 1; }
  deb=$(ls -t "$apt_dir/archives/${pkg}_"*.deb | head -n1)
  tmp=$(mktemp -d "$cache/src/.unpack.XXXXXX")
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards '*/linux-source-*.tar.*'
  tarball=$(find "$tmp" -name "linux-source-*.tar.*" | head -n1)
  mkdir -p "$tmp/tree"
  tar -xaf "$tarball" -C "$tmp/tree" --strip-components=1
  dpkg-deb -f "$deb" Version >"$tmp/tree/.dmemfuzz-debian-version"
  rm -rf "$tree"; mv "$tmp/tree" "$tree"; rm -rf "$tmp"
  touch "$tree/.dmemfuzz-unpacked"
fi
echo "$tree"
