# Location of the GRID corpus as distributed: speaker folders s1/ ... s34/ of .mpg videos,
# audio_25k/ and alignments/.  Leave empty to generate the embedded mini-GRID corpus instead.
GRID=${GRID:-}
