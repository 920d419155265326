# Metadata lives in setup.cfg; this shim lets `pip install -e .` work with espnet's setuptools<74.
from setuptools import setup

setup()
