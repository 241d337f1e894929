#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment at .venv/.
#
# Idempotent: every step is skipped when its result is already present.
# mmcv 2.1.0 has no wheel for torch 2.13 / Python 3.11, so it is compiled from
# source once (about 6 min on 2 idle cores, unoptimised: see below) into a
# wheel cache outside the clone
# ($PDNET_WHEEL_CACHE, default ~/.cache/mmseg-pdnet/wheels) and installed from
# there afterwards, so fresh clones and CI on the same machine reuse it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.venv"
PY="${VENV}/bin/python"
WHEELS="${PDNET_WHEEL_CACHE:-${HOME}/.cache/mmseg-pdnet/wheels}"
TORCH_SPEC="${PDNET_TORCH_SPEC:-torch==2.13.0}"
STAMP="${VENV}/.pdnet-setup-done"
# the stamp holds setup.py's hash: a changed setup.py (new extras, pins)
# re-runs the install steps (each skips what is already there)
SETUP_HASH="$(sha256sum "${ROOT}/setup.py" | cut -d' ' -f1)"

if [[ -f "${STAMP}" ]] && [[ "$(cat "${STAMP}")" == "${SETUP_HASH}" ]] \
        && "${PY}" -c "import mmseg_pdnet, mmcv.ops" 2>/dev/null; then
    exit 0
fi

log() { echo "[setup_env] $*"; }

# shellcheck source=tools/heartbeat.sh
source "${ROOT}/tools/heartbeat.sh"

if [[ ! -x "${PY}" ]]; then
    log "creating ${VENV}"
    python3 -m venv "${VENV}"
fi
PIP=("${PY}" -m pip --disable-pip-version-check)

# mmengine 0.10.7 and the mmcv build import pkg_resources: setuptools < 81.
"${PIP[@]}" install -q --upgrade pip "setuptools>=77,<81" wheel

if ! "${PY}" -c "import torch" 2>/dev/null; then
    log "installing ${TORCH_SPEC} (CPU build from the local wheel cache)"
    "${PIP[@]}" install -q "${TORCH_SPEC}"
fi

"${PIP[@]}" install -q "mmengine==0.10.7" "numpy<2.4" "opencv-python<4.13" ftfy regex ninja psutil

if ! "${PY}" -c "import mmcv.ops" 2>/dev/null; then
    mkdir -p "${WHEELS}"
    if ! ls "${WHEELS}"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
        # PDNet runs none of mmcv's compiled ops (mmseg only imports them),
        # so they are built without optimisation or debug info by default:
        # 5.7 instead of 11.7 minutes on 2 idle cores. Configs that do
        # run mmcv ops (deformable convs...) want PDNET_MMCV_CFLAGS="-O3".
        # --no-cache-dir: pip's own wheel cache ignores CFLAGS and would
        # hand back an earlier build made with other flags.
        MMCV_CFLAGS="${PDNET_MMCV_CFLAGS:--O0 -g0}"
        log "compiling mmcv==2.1.0 with ops (CFLAGS ${MMCV_CFLAGS}) into ${WHEELS}, once per machine:"
        log "  measured 5.7 minutes on 2 idle cores with -O0 -g0 (11.7 with the default -O3; more under load); $(nproc) core(s) here"
        with_heartbeat "mmcv compile" env MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" \
            CFLAGS="${MMCV_CFLAGS}" CXXFLAGS="${MMCV_CFLAGS}" \
            "${PIP[@]}" wheel -q --no-cache-dir --no-build-isolation \
            --no-deps --no-binary mmcv -w "${WHEELS}" "mmcv==2.1.0"
    fi
    log "installing mmcv from ${WHEELS}"
    "${PIP[@]}" install -q --no-index --find-links "${WHEELS}" --no-deps "mmcv==2.1.0"
    "${PIP[@]}" install -q addict packaging Pillow pyyaml yapf
fi

log "installing mmsegmentation 1.2.2 and mmseg_pdnet (editable, with the test and video extras)"
"${PIP[@]}" install -q "mmsegmentation==1.2.2"
"${PIP[@]}" install -q -e "${ROOT}[tests,video]"

"${PY}" -c "import mmseg_pdnet, mmcv.ops" && echo "${SETUP_HASH}" > "${STAMP}"
log "environment ready: ${VENV}"
