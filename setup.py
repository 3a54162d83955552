"""Only here because cffi's setuptools hook is the ``cffi_modules`` keyword;
everything else is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["build.py:ffibuilder"])
