#!/usr/bin/env bash
# GRID recipe: lip-to-speech, supervised and unsupervised audio-visual speech enhancement.
#   ./run.sh                               stages 0-6 on the embedded mini-GRID (or $GRID, see db.sh)
#   ./run.sh --stage 4 --stop_stage 4      one stage again
#   ./run.sh --help                        every option (egs/TEMPLATE/avdm.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# The environment is created on first use; later runs check it in a second.
../../tools/setup.sh

# shellcheck disable=SC1091
. ./db.sh
if [ -n "${GRID}" ]; then
    local_data_opts="--grid_root ${GRID}"
else
    local_data_opts="--size demo"
fi

# Stage 3 also trains the small phone CTC ASR that stage 5 scores WER with (conf/asr_ctc_lite.yaml;
# docs/experiments.md, "Grammar-constrained ASR for WER").
# Four models: the conditional (supervised) model and the lip-conditioned prior, each with its
# audio-only twin (identical config with visual_encoder: none) as the baseline.  Longest first:
# stage 3 starts the next model when any slot frees.
train_config="conf/train_cond_lite.yaml conf/train_cond_lite_audioonly.yaml \
conf/train_prior_lite.yaml conf/train_prior_lite_audioonly.yaml"

# The AV models load a lip front-end pretrained first in stage 3 (lips -> speech envelope).
exec ../TEMPLATE/avdm.sh \
    --nj 2 \
    --frontend_config conf/frontend_lip_envelope.yaml \
    --train_jobs 2 \
    --inference_nj 2 \
    --train_config "${train_config}" \
    --local_data_opts "${local_data_opts}" \
    "$@"
