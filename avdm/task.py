"""The ESPnet task of avdm: data names, preprocessing and model building from the registries.

    python -m avdm.bin.train --config conf/train_prior_lite.yaml \
        --train_data_path_and_name_and_type dump/raw/train/wav.scp,speech,sound \
        --train_data_path_and_name_and_type dump/raw/train/lip.scp,lip,kaldi_ark ...

Every component is chosen by registry key (``--sde``, ``--score_model``, ``--visual_encoder``
with ``--*_conf``), so a component registered by another package is usable from a config.
"""
from __future__ import annotations

import argparse
import logging
from typing import Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import torch

from avdm.logging_setup import quiet_offline_noise

quiet_offline_noise(g2p=True)  # espnet2.train.preprocessor imports the text front end

from espnet2.tasks.abs_task import AbsTask  # noqa: E402
from espnet2.train.collate_fn import CommonCollateFn  # noqa: E402
from espnet2.train.trainer import Trainer  # noqa: E402
from espnet2.utils.nested_dict_action import NestedDictAction  # noqa: E402
from espnet2.utils.types import str_or_none  # noqa: E402

from avdm.model import AVDiffusionModel  # noqa: E402
from avdm.model_builder import build_av_model  # noqa: E402
from avdm.preprocess import AVPreprocessor  # noqa: E402
from avdm.registry import SCORE_MODELS, SDES, VISUAL_ENCODERS, load_all  # noqa: E402

load_all()
logger = logging.getLogger(__name__)

sde_choices = SDES.class_choices(default="ouve")
score_choices = SCORE_MODELS.class_choices(default="ncsnpp_lite")
visual_choices = VISUAL_ENCODERS.class_choices(default="light_cnn", optional=True)


class AVDMTask(AbsTask):
    num_optimizers: int = 1
    class_choices_list = [sde_choices, score_choices, visual_choices]
    trainer = Trainer

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser):
        group = parser.add_argument_group(description="Task related")
        group.add_argument("--init", type=lambda x: str_or_none(x.lower()), default=None,
                           choices=["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", None],
                           help="initialisation method")
        group.add_argument("--model_conf", action=NestedDictAction, default=dict(),
                           help="keyword arguments of AVDiffusionModel (mode, t_eps, p_uncond, ema_decay, "
                                "lip_mean, lip_std, stft_conf, precision: fp32 or bf16, ...)")
        group = parser.add_argument_group(description="Preprocess related")
        group.add_argument("--preprocessor_conf", action=NestedDictAction, default=dict(),
                           help="keyword arguments of AVPreprocessor (segment_frames, lip_crop, flip_prob, "
                                "noise_scp, snr_range, mix_prob)")
        for class_choices in cls.class_choices_list:
            class_choices.add_arguments(group)

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable[
            [Collection[Tuple[str, Dict[str, np.ndarray]]]], Tuple[List[str], Dict[str, torch.Tensor]]]:
        return CommonCollateFn(float_pad_value=0.0, int_pad_value=-1)

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool
                            ) -> Optional[Callable[[str, Dict[str, np.ndarray]], Dict[str, np.ndarray]]]:
        conf = dict(getattr(args, "preprocessor_conf", None) or {})
        mode = (getattr(args, "model_conf", None) or {}).get("mode", "prior")
        if mode != "conditional":
            conf.pop("noise_scp", None)  # a clean-speech prior never sees noise
        return AVPreprocessor(train=train, **conf)

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("lip",) if inference else ("speech", "lip")

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("speech_mix",)

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> AVDiffusionModel:
        model = build_av_model(args)
        if getattr(args, "init", None):
            from espnet2.torch_utils.initialize import initialize

            initialize(model, args.init)
        model.load_pretrained()  # after any re-initialisation; a resumed checkpoint overrides both
        return model
