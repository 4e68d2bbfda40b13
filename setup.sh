#!/usr/bin/env bash
# Create .venv beside this script and install ssl_kd with everything its tests and pipelines need.
# Idempotent: rerunning only installs what is missing. Works from any directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  # torch's CUDA build makes the environment about 6.2 GB: say so up front instead of failing half-way in pip.
  need_kb=$((6500 * 1024))
  free_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
  if [ "${free_kb:-0}" -lt "$need_kb" ] && [ -z "${SSL_KD_SKIP_DISK_CHECK:-}" ]; then
    echo "setup.sh: .venv needs about 6.5 GB free in $(pwd); only $((free_kb / 1024)) MB is free." >&2
    echo "  Free some space (or set SSL_KD_SKIP_DISK_CHECK=1 to try anyway)." >&2
    exit 1
  fi
  if ! "$PYTHON" -m venv .venv; then
    rm -rf .venv  # never leave a half-made environment that the next run would take as installed
    echo "setup.sh: '$PYTHON -m venv .venv' failed (see above)." >&2
    exit 1
  fi
fi
PIP=(.venv/bin/python -m pip install --disable-pip-version-check --quiet)

# torch and torchvision are pinned: these exact wheels are the ones the project is tested with.
"${PIP[@]}" torch==2.14.1 torchvision==0.29.1
"${PIP[@]}" -e ".[faiss,dev]"
# RecBole ships MovieLens-100K inside its package (the recommender pipelines' embedded data). Its own pins (ray,
# old colorlog) do not install beside this torch, and ssl_kd never imports it: install the package without them.
"${PIP[@]}" --no-deps recbole==1.2.1

echo "ssl_kd installed in $(pwd)/.venv"
echo "  main job: .venv/bin/ssl-kd run pipelines/kd_digits.yaml"
echo "  tests:    .venv/bin/python -m pytest -q"
