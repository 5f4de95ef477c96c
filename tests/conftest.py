"""Shared by every test process (each xdist worker imports it first).

A process that trains computes its matrix products on MKL's vendor-independent branch, which MKL fixes at its first
call (sketch3d.training_blas); a training command imports sketch3d.training_loop before computing. A test process
runs many tests, some of them trainings, in one process: it imports the loop here, before any test computes."""
import sketch3d.training_loop  # noqa: F401
