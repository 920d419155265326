#!/usr/bin/env bash
# Run the avdm test suite: ensures the environment (tools/setup.sh), then pytest.
#   tools/test.sh [pytest args...]     e.g. tools/test.sh -k registry -x
set -euo pipefail
tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "${tools_dir}")
"${tools_dir}/setup.sh"
venv=${AVDM_VENV:-${tools_dir}/venv}
cd "${root}"
export PYTHONHASHSEED=0 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MKL_NUM_THREADS=${MKL_NUM_THREADS:-2}
set +e
"${venv}/bin/python" -m pytest "$@"
rc=$?
set -e
if [ ${rc} -eq 5 ]; then
    echo "tools/test.sh: pytest collected no tests; that is a failure, not a pass" >&2
    exit 1
fi
exit ${rc}
