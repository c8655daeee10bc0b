#!/usr/bin/env bash
# Install everything Stockade needs on a fresh Debian machine, then run the demo or the tests.
#   ./install.sh --demo   install, then run a hardened container on the embedded image
#   ./install.sh --test   install, then run lint, type checks and the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)

DEBIAN_PACKAGES=(runc conmon busybox-static nftables btrfs-progs xfsprogs debootstrap iproute2 gcc libc6-dev
                 apparmor libnftables1 e2fsprogs podman containerd openssl)

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "install.sh: run as root (stockade creates namespaces, cgroups and mounts)" >&2
        exit 1
    fi
}

install_debian_packages() {
    local missing=()
    for pkg in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "==> installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

install_python() {
    if [ ! -x .venv/bin/python ]; then
        echo "==> creating the virtual environment in .venv"
        python3 -m venv .venv
    fi
    echo "==> installing stockade and its Python dependencies"
    .venv/bin/pip install -q --disable-pip-version-check -e ".[dev,bench]"
    ln -sf "$here/.venv/bin/stockade" /usr/local/bin/stockade
    ln -sf "$here/.venv/bin/stockade-oci" /usr/local/bin/stockade-oci
}

systemd_is_init() {
    [ -d /run/systemd/system ]  # systemd's own test (sd_booted)
}

start_daemon() {
    if .venv/bin/stockade info >/dev/null 2>&1; then
        echo "==> the API daemon is already running"
    elif systemd_is_init; then
        echo "==> systemd is PID 1: installing and starting stockade.service"
        install -m 0644 packaging/stockade.service /etc/systemd/system/stockade.service
        systemctl daemon-reload
        systemctl enable --now stockade.service
        for _ in $(seq 100); do .venv/bin/stockade info >/dev/null 2>&1 && break; sleep 0.1; done
        echo "    (logs: journalctl -u stockade; stop: systemctl stop stockade)"
    else
        echo "==> no systemd here (PID 1 is $(cat /proc/1/comm)): starting the daemon with --detach"
        echo "    (stays running; stop it with: stockade server --stop)"
        .venv/bin/stockade server --detach
    fi
}

demo() {
    start_daemon
    echo "==> host features"
    .venv/bin/stockade info
    echo "==> a default container on the embedded busybox image"
    .venv/bin/stockade run --rm -- sh -c 'echo "hello from $(hostname), running as $(id)"'
    echo "==> its security posture, proven from inside a fresh default container"
    .venv/bin/stockade verify
    echo "==> the audit trail of what just happened"
    .venv/bin/stockade audit --verify
}

run_tests() {
    echo "==> ruff"
    .venv/bin/ruff check src tests
    echo "==> mypy"
    .venv/bin/mypy
    echo "==> import contracts"
    .venv/bin/lint-imports
    echo "==> pytest"
    .venv/bin/python -m pytest -p no:cacheprovider "$@"
}

need_root
case "${1:-}" in
    --demo) install_debian_packages; install_python; demo ;;
    --test) shift; install_debian_packages; install_python; run_tests "$@" ;;
    *) echo "usage: $0 --demo | --test [pytest args]" >&2; exit 2 ;;
esac
