#!/bin/sh
# The whole test command (what .ci/run runs): lint, types, the import contract, then pytest.
# pytest's exit 5 (no tests collected) is a failure.
set -u
cd "$(dirname "$0")/.."
V=.venv/bin
set -e
echo "== ruff"; $V/ruff check .
echo "== mypy --strict"; $V/mypy -p pystack
echo "== import-linter"; PYTHONPATH=.typecheck $V/lint-imports
set +e
echo "== pytest"
$V/pytest -ra -p no:cacheprovider "$@"
rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi
exit "$rc"
