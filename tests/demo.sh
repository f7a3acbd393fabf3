#!/bin/sh
# demo.sh: the README's main-job command (make demo). Starts a private
# redis-server and the model API stand-in on loopback, runs tryon-worker
# against them, and stops everything it started.
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 tests/demo.py "$@"
