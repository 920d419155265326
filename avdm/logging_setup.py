"""One logging format for every entry point, and the offline-noise filters."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings

_quieted = False


def setup_logging(verbose: int = 1) -> None:
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s",
                        force=True)
    _quiet_settings()  # cheap; the imports of quiet_offline_noise are left to code that uses espnet


def _quiet_settings() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    for name in ("nltk", "nltk.downloader", "urllib3", "matplotlib", "numba", "PIL"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*nltk.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"espnet2?\.")


def quiet_offline_noise(g2p: bool = False) -> None:
    """Silence libraries that try to reach the internet at import time and fail harmlessly offline.

    espnet2's text front end imports g2p_en, which calls ``nltk.download`` for data it would only
    need for English G2P (avdm never uses it); offline that prints ``[nltk_data] Error loading ...``
    lines; espnet's attention module prints a line when flash_attn is absent.  Importing them once with its output captured keeps them out of every log a user reads.
    Call this before importing espnet2 (``avdm.task`` does); ``g2p=True`` before importing an
    espnet2 module that pulls in the text front end (e.g. ``espnet2.tasks.enh``), which costs seconds.
    """
    global _quieted
    if _quieted is True or (_quieted == "no-g2p" and not g2p):
        return
    _quieted = True if g2p else "no-g2p"
    _quiet_settings()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        if g2p:
            try:
                import nltk.downloader  # noqa: F401  (binds its print target to the sink)
                import g2p_en  # noqa: F401
            except Exception:  # not installed or broken: nothing to silence
                pass
        try:  # prints "Failed to import Flash Attention" on machines without flash_attn
            import espnet.nets.pytorch_backend.transformer.attention  # noqa: F401
        except Exception:
            pass
