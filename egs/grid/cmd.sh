# Where parallel jobs run (read by avdm.launch, used by every --nj stage).
#   local: processes on this machine (at most --nj at once)
#   slurm: one `sbatch --wait` per job; put partition, time and memory options in AVDM_SLURM_OPTS,
#          e.g. export AVDM_SLURM_OPTS="--partition=gpu --time=4:00:00 --mem=16G"
export AVDM_CMD_BACKEND=${AVDM_CMD_BACKEND:-local}
export AVDM_SLURM_OPTS=${AVDM_SLURM_OPTS:-}
