"""Thin ``python -m avdm.bin.X`` entry points, one per stage job."""
