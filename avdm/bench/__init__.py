"""Benchmarks of avdm (``avdm-bench``): one module per benchmark, each writing ``<out>/<name>.json``.

* :mod:`avdm.bench.nfe_quality`  NFE versus quality for every sampler (``nfe.json``)
* :mod:`avdm.bench.rtf`          real-time factor per sampler and model size, CPU and GPU (``rtf.json``)
* :mod:`avdm.bench.visual_benefit`  AV versus audio-only twin, true versus other lips, guidance sweep
  (``visual.json``)
* :mod:`avdm.bench.peer_sgmse`   espnet2's own SGMSE+ trained with the same data and budget (``peer.json``)
* :mod:`avdm.bench.throughput`   lip extraction, dumping and training throughput (``throughput.json``)
* :mod:`avdm.bench.train_speed`  training steps/s and inference RTF per speed option (bf16, ...) against
  float32, side by side (``train_speed.json``)
* :mod:`avdm.bench.summary`      ``summary.md`` from those files, every target marked met or missed

Shared helpers: :mod:`~avdm.data.dumpset` (reading dumped sets), :mod:`~avdm.bench.evaluate`
(decode and score), :mod:`~avdm.bench.models` (trained or untrained models), :mod:`~avdm.bench.nfe`
(NFE to sampler steps), :mod:`~avdm.bench.record` (JSON, machine and training-budget records),
:mod:`~avdm.bench.targets` (the issue's targets); for the peer :mod:`~avdm.bench.peer_data` (a fixed
noisy copy of the training data) and :mod:`~avdm.bench.espnet_enh_main` (espnet2's training entry).

The command line is ``avdm-bench`` (:mod:`avdm.bin.bench`); ``tools/bench/run_bench.sh`` runs the
whole benchmark on the bench-size mini-GRID.
"""

# name (of the avdm-bench command and of <out>/<name>.json) -> its module, in the order `all` runs them
BENCHES = {"nfe": "avdm.bench.nfe_quality", "rtf": "avdm.bench.rtf", "visual": "avdm.bench.visual_benefit",
           "peer": "avdm.bench.peer_sgmse", "throughput": "avdm.bench.throughput",
           "train_speed": "avdm.bench.train_speed"}
