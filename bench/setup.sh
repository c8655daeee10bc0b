#!/usr/bin/env bash
# Install what the benchmarks need beyond Stockade itself, idempotently (run as root):
#   podman           the comparison in the latency suite (Debian package)
#   the bench extra  matplotlib for the plots (pyproject.toml, [project.optional-dependencies])
# PYTHON names the interpreter that runs the bench (default: the checkout's .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DEBIAN_PACKAGES=(podman)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> bench setup: installing Debian packages: ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
fi

# The extra's requirements, read from pyproject.toml so they are written down once. They are
# installed on their own: `pip install -e .[bench]` would re-point an editable install.
mapfile -t requirements < <("$PYTHON" - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["bench"]))
PY
)
echo "==> bench setup: Python packages: ${requirements[*]}"
"$PYTHON" -m pip install -q --disable-pip-version-check "${requirements[@]}"
