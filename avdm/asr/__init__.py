"""ASR for the WER column: train a small CTC model (espnet2 ASRTask), decode with Speech2Text,
score with a word edit distance.  espnet2 is imported only when a model is trained or loaded."""
from avdm.asr.wer import WordErrors, corpus_errors, normalize_text, total, word_errors  # noqa: F401
