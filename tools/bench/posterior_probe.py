"""Where the power goes in unsupervised enhancement (``posterior_nmf``): for each condition set,
the fitted NMF noise power, the true noise power, the sampled speech power (before the final
Wiener filter) and the output power, each as a fraction of the noisy input's power.

    python tools/bench/posterior_probe.py --model_dir exp/train_prior_lite \
        --data_dir dump/raw/dev_snr-5_seen,dump/raw/dev_snr5_seen --max_utts 3 --steps 4,8

The true noise is the noisy input minus the clean reference scaled by its least-squares gain
(a mixture that would clip is scaled down with its speech, see ``avdm.data.mixing.mix``).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import yaml

from avdm.data.dumpset import load_set
from avdm.bench.evaluate import make_decoder
from avdm.bench.models import load_any
from avdm.inference.decode_config import utt_seed


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model_dir", required=True, help="a prior model dir (or packed model)")
    p.add_argument("--data_dir", required=True, help="comma-separated dumped condition sets")
    p.add_argument("--decode_config", default="conf/decode_enhance_unsup.yaml")
    p.add_argument("--max_utts", type=int, default=3)
    p.add_argument("--steps", default="4,8", help="comma-separated posterior_nmf step counts")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model, _ = load_any(args.model_dir)
    decode = yaml.safe_load(open(args.decode_config))
    stft = model.stft

    def power(w) -> float:
        w = torch.tensor(np.asarray(w, np.float32))[None]
        X = torch.stft(w, stft.n_fft, stft.hop_length, window=stft.window, center=True, return_complex=True)
        return float((X.abs() ** 2).sum())

    print("set steps | noise model | true noise | sample (no Wiener) | output   (fractions of the input power)")
    for d in args.data_dir.split(","):
        utts = load_set(d, max_utts=args.max_utts)
        for steps in (int(s) for s in args.steps.split(",")):
            rows = []
            for wiener in (True, False):
                dec = make_decoder(model, "enhance_unsup", decode,
                                   sampler_conf={**decode["sampler_conf"], "steps": steps, "wiener": wiener})
                for i, u in enumerate(utts):
                    trace = []  # the sampler's state after each step (the last: the final noise model)
                    res = dec(u.lips, u.noisy, u.n_frames, seed=utt_seed(args.seed, u.utt), callback=trace.append)
                    y = np.asarray(u.noisy, np.float64)
                    c = np.asarray(u.clean, np.float64)
                    py = power(y)
                    if wiener:
                        W, H = trace[-1]["nmf"]
                        scale = model.input_scale(u.noisy)
                        noise = y - (y @ c) / (c @ c) * c
                        rows.append([float((W @ H).sum()) * scale ** 2 / py, power(noise) / py, 0.0, power(res.wav) / py])
                    else:
                        rows[i][2] = power(res.wav) / py
            m = np.mean(rows, axis=0)
            print(f"{d.rstrip('/').split('/')[-1]} {steps} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} | {m[3]:.3f}", flush=True)


if __name__ == "__main__":
    main()
