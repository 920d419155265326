# Sourced by the bench scripts after their option defaults: the --help text from the script's
# header comment, the --name value options (tools/parse_options.sh), no stray arguments, then
# egs/grid with its path.sh.  Sets ${root}.
help_message=$(awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0")
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC1091
. "${root}/tools/parse_options.sh"
[ $# -eq 0 ] || { echo "$0: unexpected argument(s): $*" >&2; exit 1; }
cd "${root}/egs/grid"
# shellcheck disable=SC1091
. ./path.sh
