"""``python -m avdm.bench.espnet_enh_main``: espnet2's EnhancementTask.main (the peer's training),
with the offline import noise of its text front end silenced.  ``--avdm_precision bf16`` (not an
espnet2 option; taken out before espnet2 parses the rest) runs the peer's score network under
bfloat16 autocast, as avdm's ``model_conf: precision`` does (:mod:`avdm.bench.peer_precision`)."""
import sys

from avdm.logging_setup import quiet_offline_noise


def pop_option(argv: list, name: str, default: str) -> str:
    """The value of ``name`` in ``argv`` (removed from it), else ``default``."""
    if name in argv:
        i = argv.index(name)
        if i + 1 >= len(argv):
            raise SystemExit(f"{name} needs a value")
        value = argv[i + 1]
        del argv[i:i + 2]
        return value
    return default


def main(cmd=None):
    quiet_offline_noise(g2p=True)
    from espnet2.tasks.enh import EnhancementTask

    from avdm.bench.peer_precision import score_network_at

    argv = list(sys.argv[1:] if cmd is None else cmd)
    precision = pop_option(argv, "--avdm_precision", "fp32")
    if precision != "fp32":
        build = EnhancementTask.build_model.__func__

        def build_model(cls, args):
            return score_network_at(build(cls, args), precision)

        EnhancementTask.build_model = classmethod(build_model)
    EnhancementTask.main(cmd=argv)


if __name__ == "__main__":
    main()
