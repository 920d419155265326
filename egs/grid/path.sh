# Environment of the GRID recipe: the avdm checkout and its virtual environment (tools/setup.sh).
if [ -z "${AVDM_ROOT:-}" ]; then
    AVDM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fi
export AVDM_ROOT
export AVDM_PYTHON=${AVDM_PYTHON:-${AVDM_ROOT}/tools/venv/bin/python}
export PATH=${AVDM_ROOT}/tools/venv/bin:${PATH}
export PYTHONIOENCODING=UTF-8
export HF_HUB_OFFLINE=1
# one BLAS thread per job: stages run --nj jobs side by side
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
