#!/bin/sh
# Brings up examples/demo: validates the stack file and prints its canonical form.
set -eu
cd "$(dirname "$0")/.."
.venv/bin/pystack -f examples/demo/stack.yml config
