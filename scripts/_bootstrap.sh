# shellcheck shell=bash
# Shared by scripts/serve and scripts/test: find a Python the libtorrent wheel supports (3.11–3.13),
# create .venv on first use and (re)install the project whenever pyproject.toml changes.
# Usage: source scripts/_bootstrap.sh; revaer_bootstrap [extra]   (extra: "" or "dev")
set -euo pipefail

REVAER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REVAER_VENV="${REVAER_ROOT}/.venv"

revaer_find_python() {
    local candidate version
    for candidate in "${REVAER_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        version="$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || continue
        case "$version" in
            3.11|3.12|3.13) echo "$candidate"; return 0 ;;
        esac
    done
    echo "revaer: need Python 3.11, 3.12 or 3.13 (libtorrent wheels stop at 3.13)" >&2
    return 1
}

revaer_bootstrap() {
    local extra="${1:-}" python spec stamp digest
    if [ ! -x "${REVAER_VENV}/bin/python" ]; then
        python="$(revaer_find_python)"
        echo "revaer: creating ${REVAER_VENV} with ${python}" >&2
        "$python" -m venv "${REVAER_VENV}"
    fi
    spec="."
    [ -n "$extra" ] && spec=".[${extra}]"
    digest="$(cat "${REVAER_ROOT}/pyproject.toml" | sha256sum | cut -c1-16)"
    stamp="${REVAER_VENV}/.revaer-installed-${extra:-base}-${digest}"
    if [ ! -f "$stamp" ]; then
        echo "revaer: installing ${spec} into ${REVAER_VENV}" >&2
        "${REVAER_VENV}/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
        (cd "${REVAER_ROOT}" && "${REVAER_VENV}/bin/python" -m pip install --quiet \
            --disable-pip-version-check -e "${spec}" >&2)
        rm -f "${REVAER_VENV}"/.revaer-installed-"${extra:-base}"-*
        touch "$stamp"
    fi
}
