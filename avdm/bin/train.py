"""``python -m avdm.bin.train``: espnet2 training of the avdm task (AVDMTask.main)."""
from avdm.task import AVDMTask


def main(cmd=None):
    AVDMTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
