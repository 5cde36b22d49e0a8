#!/usr/bin/env bash
# Builds the nisshi broker with our patches into $1 (bin/nisshi there), reusing $2 as cargo's
# target directory so a changed patch rebuilds only the crates above nisshi-storage.
#
#   1. fetch every crate at the versions upstream's Cargo.lock pins (this folder is nisshi
#      0.7.0-pre.2's own manifest, lock and main, unchanged);
#   2. unpack the registry's nisshi-storage and nisshi-broker next to a copy of this folder (as
#      storage/ and broker/, the directories the patches name) and apply our patches;
#   3. build that copy with the patched crates in place of the registry's.
# See PATCHES.md.
set -euo pipefail
root=$1 target=$2
here=$(cd "$(dirname "$0")" && pwd)
version=0.7.0-pre.2
features=dynostore,libsql,postgres

work="$target/src"
rm -rf "$work" && mkdir -p "$work"
cp -r "$here/Cargo.toml" "$here/Cargo.lock" "$here/src" "$work/"

cargo fetch --locked --quiet --manifest-path "$work/Cargo.toml"
for name in storage broker; do
  crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/nisshi-$name-$version.crate | head -n 1)
  tar -xzf "$crate" -C "$work"
  mv "$work/nisshi-$name-$version" "$work/$name"
done
for patch in "$here"/*.patch; do
  patch --quiet --directory "$work" -p1 <"$patch"
done

cargo build --release --offline --quiet --manifest-path "$work/Cargo.toml" \
  --features "$features" --target-dir "$target" \
  --config "patch.crates-io.nisshi-storage.path='$work/storage'" \
  --config "patch.crates-io.nisshi-broker.path='$work/broker'"
mkdir -p "$root/bin"
cp "$target/release/nisshi" "$root/bin/nisshi.tmp"
mv "$root/bin/nisshi.tmp" "$root/bin/nisshi"
