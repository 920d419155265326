"""``python -m avdm.bench.espnet_enh_main``: espnet2's EnhancementTask.main (the peer's training),
with the offline import noise of its text front end silenced."""
from avdm.logging_setup import quiet_offline_noise


def main(cmd=None):
    quiet_offline_noise(g2p=True)
    from espnet2.tasks.enh import EnhancementTask

    EnhancementTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
