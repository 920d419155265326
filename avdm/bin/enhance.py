"""``avdm-enhance``: enhance the speech of videos (or wav + video pairs) with a trained model.

    avdm-enhance --model M in.mp4 out.mp4 [in2.mp4 out2.mp4 ...]
    avdm-enhance --model M --wav noisy.wav --video face.mp4 out.wav

M is an exp dir from stage 3 or a zip from avdm-pack.  A conditional model enhances with its
supervised sampler, a prior model by posterior sampling with the NMF noise model.  Lips come from
the video; without a face, only a model trained with visual dropout (or an audio-only model) goes
on.  The enhanced audio replaces the video's audio track (or is written as a wav).
"""
from __future__ import annotations

import argparse
import logging
import sys

from avdm.logging_setup import setup_logging


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="avdm-enhance", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("files", nargs="*", help="pairs: input video, output video")
    p.add_argument("--wav", help="noisy speech (with --video and one output .wav)")
    p.add_argument("--video", help="video of the speaker's face for --wav")
    p.add_argument("--inference_config", default=None,
                   help="decode YAML (sampler, sampler_conf, guidance); default: the one stored with the model "
                        "by stage 4 / avdm-pack, else the shipped avdm/conf/decode_<job>.yaml")
    p.add_argument("--detector", default="dlib68")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    setup_logging()
    from avdm.audio_io import AudioError, load_audio, save_wav
    from avdm.inference.decode_config import decoder_for
    from avdm.inference.job_list import enhancement_job
    from avdm.inference.media import (audio_and_frames, check_outputs, lips_of, match_lengths, mux,
                                      process_each, video_frames, visual_input)
    from avdm.inference.model_io import announce_corpus, load_model
    from avdm.video.decode import VideoError

    if args.wav or args.video:
        if not (args.wav and args.video and len(args.files) == 1):
            p.error("--wav needs --video and exactly one output path")
    elif not args.files or len(args.files) % 2:
        p.error("give input/output video pairs")
    pairs = [(args.video, args.files[0])] if args.wav else list(zip(args.files[::2], args.files[1::2]))
    try:  # everything that can be known before inference is checked before it
        check_outputs(pairs, [args.wav], {".wav", ".flac"} if args.wav else None)
        model, _ = load_model(args.model)
        announce_corpus(args.model)
        job = enhancement_job(model.mode)
        decoder = decoder_for(model, job, args.inference_config, args.model)
    except (FileNotFoundError, VideoError, AudioError, ValueError) as e:  # ModelNotFoundError is one
        logging.error("%s", e)
        return 1

    def enhance(src, dst):
        lips = lips_of(src, args.detector)
        cond = visual_input(model, lips, src)
        if args.wav:
            audio, n = match_lengths(load_audio(args.wav), video_frames(src, lips), args.wav, src)
        else:
            audio, n = audio_and_frames(src, lips)
        res = decoder(None if cond is None else cond[:n], audio, n, seed=args.seed)
        if args.wav:
            save_wav(dst, res.wav)
        else:
            mux(src, res.wav, dst)
        logging.info("%s -> %s (%s, NFE %d, RTF %.2f)", src, dst, job, res.nfe, res.rtf)

    return process_each(pairs, enhance, "avdm-enhance", "not enhanced")


if __name__ == "__main__":
    sys.exit(main())
