"""``avdm-generate``: speech from lips alone (lip-to-speech), muxed into the video.

    avdm-generate --model M silent.mp4 out.mp4 [more pairs] [--guidance 2.0]

M is a prior model (exp dir or avdm-pack zip) trained with lips.  The output keeps the picture
and gets the generated speech as its audio track.
"""
from __future__ import annotations

import argparse
import logging
import sys

from avdm.logging_setup import setup_logging


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="avdm-generate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("files", nargs="+", help="pairs: input video, output video")
    p.add_argument("--inference_config", default=None,
                   help="decode YAML; default: the one stored with the model by stage 4 / avdm-pack, "
                        "else the shipped avdm/conf/decode_generate.yaml")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument("--detector", default="dlib68")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    setup_logging()
    if len(args.files) % 2:
        p.error("give input/output video pairs")
    from avdm.inference.decode_config import decoder_for
    from avdm.inference.media import check_outputs, lips_of, mux, process_each
    from avdm.inference.model_io import announce_corpus, load_model
    from avdm.video.decode import VideoError

    pairs = list(zip(args.files[::2], args.files[1::2]))
    try:  # everything that can be known before inference is checked before it
        check_outputs(pairs)
        model, _ = load_model(args.model)
        announce_corpus(args.model)
        if model.mode != "prior" or model.audio_only:
            raise ValueError("avdm-generate needs a lip-conditioned prior model (mode: prior, with a visual encoder)")
        decoder = decoder_for(model, "generate", args.inference_config, args.model)
        if args.guidance is not None:
            decoder.cfg.guidance = args.guidance
    except (FileNotFoundError, VideoError, ValueError) as e:  # ModelNotFoundError is one
        logging.error("%s", e)
        return 1

    def generate(src, dst):
        lips = lips_of(src, args.detector)
        if lips is None:
            raise VideoError(f"{src}: no face found: nothing to generate speech from")
        res = decoder(lips, None, len(lips), seed=args.seed)
        mux(src, res.wav, dst)
        logging.info("%s -> %s (NFE %d, RTF %.2f)", src, dst, res.nfe, res.rtf)

    return process_each(pairs, generate, "avdm-generate", "nothing generated")


if __name__ == "__main__":
    sys.exit(main())
