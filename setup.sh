#!/usr/bin/env bash
# Create .venv beside this script and install ssl_kd with everything its tests and pipelines need.
# Idempotent: rerunning only installs what is missing. Works from any directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --disable-pip-version-check --quiet)

# torch and torchvision are pinned: these exact wheels are the ones the project is tested with.
"${PIP[@]}" torch==2.14.1 torchvision==0.29.1
"${PIP[@]}" -e ".[faiss,dev]"

echo "ssl_kd installed in $(pwd)/.venv"
echo "  main job: .venv/bin/ssl-kd run pipelines/kd_digits.yaml"
echo "  tests:    .venv/bin/python -m pytest -q"
