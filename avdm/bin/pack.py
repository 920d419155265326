"""``avdm-pack``: one zip with what inference needs (config, EMA-carrying weights, statistics, the
decode configs stage 4 used with the model, ``decode_<job>.yaml``, and the name of the corpus it
was trained on, ``corpus``).

    avdm-pack exp/<tag> model.zip
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import zipfile
from pathlib import Path

from avdm.fileio import atomic_path
from avdm.logging_setup import setup_logging


def pack(exp: Path, out: Path) -> Path:
    from avdm.inference.model_io import (CORPUS_FILE, ModelNotFoundError, _weights_in, decode_config_file_name,
                                         model_corpus)

    exp = Path(exp)
    if not (exp / "config.yaml").is_file():
        raise ModelNotFoundError(f"{exp}/config.yaml: missing (run stage 3 first)")
    weights = _weights_in(exp)
    import yaml

    config = yaml.safe_load((exp / "config.yaml").read_text())
    meta = {"source": str(exp), "weights": weights.name, "model_conf": config.get("model_conf", {}),
            "visual_encoder": config.get("visual_encoder"), "score_model": config.get("score_model"),
            "sde": config.get("sde"), "corpus": model_corpus(exp)}
    with atomic_path(out) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(exp / "config.yaml", "config.yaml")
            z.write(weights, "model.pth")
            for f in sorted(exp.glob(decode_config_file_name("*"))):  # the recipe's decode choices
                z.write(f, f.name)
            if (exp / CORPUS_FILE).is_file():  # what it was trained on, shown by the CLIs
                z.write(exp / CORPUS_FILE, CORPUS_FILE)
            z.writestr("meta.json", json.dumps(meta, indent=1, sort_keys=True, default=str))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="avdm-pack", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("exp_dir")
    p.add_argument("out", help="the .zip to write")
    args = p.parse_args(argv)
    setup_logging()
    try:
        pack(Path(args.exp_dir), Path(args.out))
    except FileNotFoundError as e:
        logging.error("%s", e)
        return 1
    logging.info("packed %s into %s", args.exp_dir, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
