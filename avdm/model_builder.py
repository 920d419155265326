"""Building an ``AVDiffusionModel`` from its training arguments, without importing espnet2's task.

``AVDMTask.build_model`` (training) and ``avdm.inference.model_io.load_model`` (inference) both
call :func:`build_av_model`, so a model is assembled the same way in both.  Inference avoids
importing ``espnet2.tasks.abs_task``, whose import chain (the text front end, nltk, g2p_en)
costs several seconds per process, paid by every parallel job of stage 4.
"""
from __future__ import annotations

import argparse
from typing import Any, Mapping

from avdm.model import AVDiffusionModel
from avdm.registry import NO_COMPONENT, SCORE_MODELS, SDES, VISUAL_ENCODERS, load_all


def _key(value: Any) -> str:
    if value is None or str(value).lower() in NO_COMPONENT:
        return "none"
    return str(value).lower()


def build_av_model(args: argparse.Namespace | Mapping[str, Any]) -> AVDiffusionModel:
    """The model described by ``args`` (the namespace of ``config.yaml`` or a dict of it)."""
    load_all()
    a = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    conf = dict(a.get("model_conf") or {})
    mode = conf.get("mode", "prior")
    visual = VISUAL_ENCODERS.build(_key(a.get("visual_encoder")), a.get("visual_encoder_conf") or {})
    score = SCORE_MODELS.get(_key(a.get("score_model", "ncsnpp_lite")))(
        conditional=(mode == "conditional"), visual_dim=visual.output_dim, **(a.get("score_model_conf") or {}))
    sde = SDES.get(_key(a.get("sde", "ouve")))(**(a.get("sde_conf") or {}))
    return AVDiffusionModel(score_model=score, visual_encoder=visual, sde=sde, **conf)
