"""``python -m avdm.bin.train``: espnet2 training of the avdm task (AVDMTask.main)."""
import torch.distributed as dist

from avdm.task import AVDMTask


def main(cmd=None):
    try:
        AVDMTask.main(cmd=cmd)
    finally:
        # espnet2 leaves the process group to interpreter exit, where a rank can abort while its gloo
        # threads are torn down ("terminate called without an active exception"); close it here
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
