"""Unit tests, grouped as the package is (tests/unit/<package>/ mirrors src/sketch3d/<package>/).

This folder is put on sys.path (pytest does so for a conftest's folder), so that every
test file can import the shared helpers in ``_helpers.py``.
"""
