#!/usr/bin/env bash
# One-command environment for avdm: creates tools/venv with everything the toolkit uses.
#   tools/setup.sh            create or update (a second run with nothing changed takes seconds)
#   tools/setup.sh --force    rebuild tools/venv from scratch
# Environment variables: PYTHON (interpreter to build the venv from, default python3),
#   AVDM_VENV (venv location, default tools/venv), AVDM_EXTRA_PIP_ARGS (passed to pip install).
set -euo pipefail

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "${tools_dir}")
venv=${AVDM_VENV:-${tools_dir}/venv}
python=${PYTHON:-python3}
force=false
for arg in "$@"; do
    case "${arg}" in
        --force) force=true ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "$0: unknown option ${arg}" >&2; exit 2 ;;
    esac
done

# The stamp records what the venv was built from; when nothing changed we are done.
stamp_file=${venv}/.avdm_stamp
stamp=$(cat "${tools_dir}/requirements.txt" "${root}/setup.cfg" "${root}/setup.py" "$0" | sha256sum | cut -d' ' -f1)
if ! ${force} && [ -f "${stamp_file}" ] && [ "$(cat "${stamp_file}")" = "${stamp}" ] \
        && "${venv}/bin/python" -c "import avdm, espnet2, torchaudio" 2>/dev/null; then
    echo "tools/setup.sh: environment ${venv} is up to date"
    exit 0
fi

start=$(date +%s)
if ${force} && [ -d "${venv}" ]; then
    echo "tools/setup.sh: --force: removing ${venv}"
    rm -rf "${venv}"
fi
if [ ! -x "${venv}/bin/python" ]; then
    echo "tools/setup.sh: creating ${venv} with $(${python} --version 2>&1)"
    ${python} -m venv "${venv}"
fi
pip_log=${venv}/setup_pip.log
echo "tools/setup.sh: installing tools/requirements.txt (first time: several minutes, ~6 GB; log: ${pip_log})"
# pip's own output is kept in the log; only errors reach the terminal.
if ! "${venv}/bin/python" -m pip install --disable-pip-version-check ${AVDM_EXTRA_PIP_ARGS:-} \
        -r "${tools_dir}/requirements.txt" >"${pip_log}" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "${pip_log}" | tail -n 40 >&2
    echo "tools/setup.sh: pip install failed; full log in ${pip_log}" >&2
    exit 1
fi
echo "tools/setup.sh: installing avdm (editable)"
if ! "${venv}/bin/python" -m pip install --disable-pip-version-check \
        -e "${root}" >>"${pip_log}" 2>&1; then
    tail -n 40 "${pip_log}" >&2
    echo "tools/setup.sh: pip install -e . failed; full log in ${pip_log}" >&2
    exit 1
fi
# Check that the pieces that break most often import together.
"${venv}/bin/python" - <<'PY'
import warnings
warnings.simplefilter("ignore")
from avdm.logging_setup import quiet_offline_noise
quiet_offline_noise(g2p=True)
import torch, torchaudio, espnet2.tasks.enh, kaldiio, dlib, face_recognition_models, espeakng_loader, imageio_ffmpeg  # noqa
import avdm.registry
print(f"tools/setup.sh: torch {torch.__version__} (cuda build: {torch.version.cuda}), torchaudio {torchaudio.__version__}")
PY
echo "${stamp}" > "${stamp_file}"
echo "tools/setup.sh: done in $(( $(date +%s) - start )) s; venv size $(du -sh "${venv}" | cut -f1)"
