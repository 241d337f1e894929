#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment at .venv/.
#
# Idempotent: every step is skipped when its result is already present.
#
# mmcv 2.1.0 has no wheel for torch 2.13 / Python 3.11, so it is built from
# its source, once, into a wheel cache outside the clone
# ($PDNET_WHEEL_CACHE, default ~/.cache/mmseg-pdnet/wheels), and installed
# from there afterwards (fresh clones and CI on the same machine reuse it).
# PDNet runs none of mmcv's compiled ops; MMSeg only imports them. So by
# default mmcv is built without them (seconds) and
# mmseg_pdnet/utils/mmcv_ext_standin.py is copied in as mmcv/_ext.py: MMSeg
# imports, and a model that calls an mmcv op stops with one line naming it.
# PDNET_MMCV_OPS=1 compiles the real ops instead (6-13 minutes on 2 cores,
# unoptimised: see below) and replaces the stand-in.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.venv"
PY="${VENV}/bin/python"
WHEELS="${PDNET_WHEEL_CACHE:-${HOME}/.cache/mmseg-pdnet/wheels}"
TORCH_SPEC="${PDNET_TORCH_SPEC:-torch==2.13.0}"
MMCV_OPS="${PDNET_MMCV_OPS:-0}"
STAMP="${VENV}/.pdnet-setup-done"

if [[ "${MMCV_OPS}" != 0 && "${MMCV_OPS}" != 1 ]]; then
    echo "setup_env.sh: error: PDNET_MMCV_OPS=${MMCV_OPS}: expected 0 (mmcv without compiled ops, the default) or 1 (compile them)" >&2
    exit 2
fi

# the stamp holds the hashes of setup.py and the mmcv stand-in, and the
# mmcv mode: a changed setup.py (new extras, pins) or stand-in, or
# PDNET_MMCV_OPS=1, re-runs the install steps (each skips what is already
# there)
STANDIN="${ROOT}/mmseg_pdnet/utils/mmcv_ext_standin.py"
STAMP_TEXT="$(cat "${ROOT}/setup.py" "${STANDIN}" | sha256sum | cut -d' ' -f1) mmcv-ops=${MMCV_OPS}"
READY_CHECK="import mmseg_pdnet, mmcv.ops"
if [[ "${MMCV_OPS}" == 1 ]]; then
    READY_CHECK+="; from mmseg_pdnet.utils.mmcv_ops import mmcv_ops_compiled as c; assert c()"
fi

if [[ -f "${STAMP}" ]] && [[ "$(cat "${STAMP}")" == "${STAMP_TEXT}" ]] \
        && "${PY}" -c "${READY_CHECK}" 2>/dev/null; then
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
# pip byte-compiles serially; the environment is compiled on every core
# instead (torch in the background, the rest at the end).
INSTALL=("${PIP[@]}" install -q --no-compile)

# mmengine 0.10.7 and the mmcv build import pkg_resources: setuptools < 81.
"${INSTALL[@]}" --upgrade pip "setuptools>=77,<81" wheel

if ! "${PY}" -c "import torch" 2>/dev/null; then
    log "installing ${TORCH_SPEC} (CPU build from the local wheel cache)"
    "${INSTALL[@]}" "${TORCH_SPEC}"
fi

# torch's .pyc files (most of the environment's) in the background, while
# pip installs the rest; the compile at the end does what is left
SITE="$("${PY}" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"${PY}" -m compileall -qq -j 0 "${SITE}/torch" >/dev/null 2>&1 &
TORCH_COMPILE=$!

"${INSTALL[@]}" "mmengine==0.10.7" "numpy<2.4" "opencv-python<4.13" ftfy regex ninja psutil

# What mmcv._ext is in the venv: compiled | standin | missing (mmcv
# without it) | absent (no mmcv).
mmcv_ext() {
    "${PY}" - <<'EOF'
import importlib.util
try:
    spec = importlib.util.find_spec('mmcv._ext')
except ImportError:
    print('absent')
else:
    print('missing' if spec is None else
          'standin' if spec.origin.endswith('.py') else 'compiled')
EOF
}
mmcv_dir() {
    "${PY}" -c "import importlib.util as u; print(u.find_spec('mmcv').submodule_search_locations[0])"
}
mkdir -p "${WHEELS}"
MMCV_EXT="$(mmcv_ext)"

if [[ "${MMCV_OPS}" == 1 && "${MMCV_EXT}" != compiled ]]; then
    TAG="$("${PY}" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
    if ! ls "${WHEELS}"/mmcv-2.1.0-"${TAG}"-*.whl >/dev/null 2>&1; then
        # Unoptimised, no debug info by default: 5.7 instead of 11.7
        # minutes on 2 idle cores. PDNET_MMCV_CFLAGS="-O3" for configs
        # that spend their time in mmcv ops (deformable convs...); the
        # wheel is cached: delete it to rebuild with other flags.
        # --no-cache-dir: pip's own wheel cache ignores CFLAGS (and
        # MMCV_WITH_OPS) and would hand back an earlier build.
        MMCV_CFLAGS="${PDNET_MMCV_CFLAGS:--O0 -g0}"
        log "PDNET_MMCV_OPS=1: compiling mmcv==2.1.0 with its ops (CFLAGS ${MMCV_CFLAGS}) into ${WHEELS}, once per machine:"
        log "  measured 5.7 minutes on 2 idle cores with -O0 -g0 (11.7 with the default -O3; more under load); $(nproc) core(s) here"
        with_heartbeat "mmcv compile" env MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" \
            CFLAGS="${MMCV_CFLAGS}" CXXFLAGS="${MMCV_CFLAGS}" \
            "${PIP[@]}" wheel -q --no-cache-dir --no-build-isolation \
            --no-deps --no-binary mmcv -w "${WHEELS}" "mmcv==2.1.0"
    fi
    if [[ "${MMCV_EXT}" == standin ]]; then
        rm -f "$(mmcv_dir)/_ext.py"
    fi
    log "installing mmcv with its compiled ops from ${WHEELS}"
    "${INSTALL[@]}" --force-reinstall --no-deps \
        "$(ls "${WHEELS}"/mmcv-2.1.0-"${TAG}"-*.whl | head -n 1)"
elif [[ "${MMCV_EXT}" == absent ]]; then
    if ! ls "${WHEELS}"/mmcv-2.1.0-py*-none-any.whl >/dev/null 2>&1; then
        # mmcv's setup.py skips the ops when it cannot import torch: an
        # isolated build (no torch in it) gives the pure-Python `mmcv`
        # (MMCV_WITH_OPS=0 would name it mmcv-lite, which MMSeg's and
        # this package's `mmcv` requirements do not accept).
        log "building mmcv==2.1.0 without its compiled ops into ${WHEELS} (PDNET_MMCV_OPS=1 compiles them)"
        # Its setup.py imports pkg_resources: setuptools < 81 in the
        # build environment too (PIP_BUILD_CONSTRAINT: pip >= 25.3;
        # earlier pips apply PIP_CONSTRAINT there).
        BUILD_CONSTRAINTS="$(mktemp)"
        echo "setuptools<81" > "${BUILD_CONSTRAINTS}"
        PIP_BUILD_CONSTRAINT="${BUILD_CONSTRAINTS}" \
            PIP_CONSTRAINT="${BUILD_CONSTRAINTS}" \
            "${PIP[@]}" wheel -q --no-cache-dir --no-deps \
            --no-binary mmcv -w "${WHEELS}" "mmcv==2.1.0"
        rm -f "${BUILD_CONSTRAINTS}"
    fi
    log "installing mmcv without its compiled ops from ${WHEELS}"
    "${INSTALL[@]}" --no-deps \
        "$(ls "${WHEELS}"/mmcv-2.1.0-py*-none-any.whl | head -n 1)"
fi
if [[ "$(mmcv_ext)" != compiled ]]; then
    # (again each run: a changed stand-in is copied over the old one)
    cp "${STANDIN}" "$(mmcv_dir)/_ext.py"
fi
# mmcv's own requirements (its wheels are installed with --no-deps)
"${INSTALL[@]}" addict packaging Pillow pyyaml yapf

log "installing mmsegmentation 1.2.2 and mmseg_pdnet (editable, with the test and video extras)"
"${INSTALL[@]}" "mmsegmentation==1.2.2"
"${INSTALL[@]}" -e "${ROOT}[tests,video]"

# The .pyc files of everything installed, on every core (23 s on 2 cores
# for this environment, against about 40 s for pip's serial compile).
# Where PYTHONDONTWRITEBYTECODE is set Python never writes them itself,
# and every process would compile torch, mmengine and mmseg from source
# (10-13 s per import instead of 3). Files that are not Python 3 (test
# data of some packages) are left as pip leaves them.
log "byte-compiling the environment on $(nproc) core(s)"
wait "${TORCH_COMPILE}" || true
"${PY}" -m compileall -qq -j 0 "${SITE}" || true
"${PY}" -c "${READY_CHECK}" && echo "${STAMP_TEXT}" > "${STAMP}"
if [[ "$(mmcv_ext)" == compiled ]]; then
    log "environment ready: ${VENV} (mmcv with its compiled ops)"
else
    log "environment ready: ${VENV} (mmcv without compiled ops; PDNET_MMCV_OPS=1 make setup compiles them)"
fi
