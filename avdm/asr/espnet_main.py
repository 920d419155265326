"""``python -m avdm.asr.espnet_main``: espnet2's ASRTask.main with the offline import noise silenced."""
from avdm.logging_setup import quiet_offline_noise


def main(cmd=None):
    quiet_offline_noise(g2p=True)
    from espnet2.tasks.asr import ASRTask

    ASRTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
