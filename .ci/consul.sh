#!/usr/bin/env bash
# Builds a real Consul agent from the Go module proxy (Consul is not a Debian
# package) and caches it outside the repo. Prints the binary's path.
#
# v1.14.11 is the newest tag whose dependency graph the module proxy serves in
# full; the replace points an old, vanished import at its maintained fork.
set -euo pipefail
version=1.14.11
cache=${MICROKIT_CACHE:-$HOME/.cache/microkit}
bin=$cache/consul-$version
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<MOD
module consulbuild

go 1.20

require github.com/hashicorp/consul v$version

replace launchpad.net/gocheck => github.com/go-check/check v0.0.0-20140225173054-eb6ee6f84d0a
MOD
cat > tools.go <<'SRC'
//go:build tools

package consulbuild

import _ "github.com/hashicorp/consul"
SRC
GOFLAGS=-mod=mod go mod tidy >&2 || GOFLAGS=-mod=mod go mod download >&2
GOFLAGS=-mod=mod go build -o "$bin.tmp" github.com/hashicorp/consul >&2
mv "$bin.tmp" "$bin"
echo "$bin"
