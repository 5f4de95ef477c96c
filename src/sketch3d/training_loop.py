"""The one resumable training loop: every training and optimisation in the package runs its steps through it.

A chapter writes only its *step* (one optimisation step, or one epoch) and its *evaluation*; the loop does the rest:

- **seeded start**: :func:`seed_everything` (torch's CPU generator, python's ``random``) before the chapter builds
  its networks; the chapter's own generators (``torch.Generator``, ``numpy.random.Generator``) are registered;
- **checkpoints** every ``checkpoint_every`` steps, at the last step and when the chapter stops early, written
  atomically (:func:`sketch3d.atomic.save_torch`): every registered network, optimiser and scheduler (their
  ``state_dict``), tensor, generator (torch CPU/device generators, numpy Generators, python ``random``), the
  chapter's bookkeeping values (curves, best-so-far, running sums), the step and the fingerprint of the run;
- **exact resume**: a rerun with the same fingerprint loads all of it and continues after the last checkpoint,
  so that an interrupted run ends byte-identical to an uninterrupted one; another fingerprint is refused (or,
  where the chapter asks, ignored and started afresh);
- **one fingerprint function** (:func:`fingerprint`) naming what a checkpoint belongs to;
- **one curves file** per training, ``curves.csv`` (:func:`write_curves`: a header row, one row per evaluation,
  integers as they are, floats to 6 significant digits, missing values empty: the form ``dvc plots`` reads) and
  its picture ``curves.png`` (drawn by the chapter);
- **device and dtype from the model**: the loop creates no tensor of its own; it reads the device of the
  registered networks (:func:`device_of`), refuses networks spread over several devices before the first step
  (:func:`check_one_device`) and saves/restores the random state of the device the model is on;
- **a progress line** per evaluation (:meth:`TrainingLoop.progress`);
- **pinned kernels**: every step and evaluation runs inside :func:`sketch3d.numerics.training_kernels`
  (convolutions without oneDNN / NNPACK), and a process that imports this module computes its GEMMs on MKL's
  vendor-independent branch (:mod:`sketch3d.training_blas`), so that a training gives the same numbers on every
  x86-64 CPU kind, Intel's and AMD's.

The loop never draws a random number and never touches a float of the computation (the order of every draw and
every operation is the chapter's); only the convolution kernels it pins choose how a float is rounded.

Use::

    loop = TrainingLoop("train_mask", total=steps, checkpoint=Checkpoint(folder, fp), checkpoint_every=10,
                        state={"w": w, "optimiser": opt, "rng": rng}, values={"curve": [], "best": {}})
    loop.resume()                         # True when a checkpoint of this run was loaded
    loop.run(step, evaluate=evaluate, eval_every=10, stop_after=stop_after)
    if loop.finished: write the outputs

``step(i)``: the step of index ``i`` (0-based; ``loop.done`` is ``i`` during it); ``evaluate(done)``: after step
``done`` when ``done % eval_every == 0`` or at the last step; ``after_checkpoint(done)``: after every checkpoint
written. The chapter's bookkeeping lives in ``loop.values`` (restored on resume); ``loop.stop()`` (from a step or
an evaluation) ends the run after the current step, with a checkpoint.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import random
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from sketch3d import training_blas
from sketch3d.atomic import atomic_path, save_torch
from sketch3d.numerics import training_kernels

# MKL's vendor-independent branch for this process (read at MKL's first call: a training command imports this
# module at the start of its handler, before any matrix product); checked before the first step
training_blas.pin()

log = logging.getLogger("sketch3d")

__all__ = ["CURVES_CSV", "CURVES_PNG", "Checkpoint", "CheckpointMismatch", "TrainingLoop", "check_one_device",
           "device_of", "fingerprint", "seed_everything", "write_curves"]

CURVES_CSV = "curves.csv"
CURVES_PNG = "curves.png"
PYTHON_RANDOM = random  # register python's ``random`` module under a name in ``state`` to checkpoint it
TORCH_CPU = "torch_cpu"  # register this string as a state entry: torch's global CPU generator
TORCH_DEVICE = "torch_device"  # ... the global generator of the registered networks' device (CUDA); none on the CPU


# ----------------------------------------------------------------------------- fingerprint


def fingerprint(*parts: Any) -> str:
    """SHA-256 (hex) of ``parts``, in order: ``bytes`` as they are, ``str`` as UTF-8, numpy arrays and tensors by
    their values (host copy, C order), anything else as sorted-key JSON (``default=str``). What a checkpoint
    belongs to: settings, input data, initial values; two runs resume each other only when it is equal."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, (bytes, bytearray, memoryview)):
            h.update(bytes(p))
        elif isinstance(p, str):
            h.update(p.encode())
        elif isinstance(p, torch.Tensor):
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(p, np.ndarray):
            h.update(np.ascontiguousarray(p).tobytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------- devices


def _modules(state: Mapping[str, Any]) -> list[tuple[str, torch.nn.Module]]:
    return [(k, v) for k, v in state.items() if isinstance(v, torch.nn.Module)]


def device_of(module: torch.nn.Module) -> torch.device:
    """The device of a network's first parameter (or buffer); the CPU for one that holds none."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def check_one_device(modules: Iterable[tuple[str, torch.nn.Module]], what: str = "training") -> torch.device | None:
    """The one device every tensor of ``modules`` lives on; a ValueError naming the first tensor elsewhere (a step
    would fail on it, on a GPU, after the set-up was spent)."""
    device = None
    for name, m in modules:
        for key, t in [*m.named_parameters(), *m.named_buffers()]:
            if device is None:
                device, first = t.device, f"{name}.{key}"
            elif t.device != device:
                raise ValueError(f"{what}: {name}.{key} is on {t.device} while {first} is on {device}; place every "
                                 "network on the model's device before training (.to(device))")
    return device


# ----------------------------------------------------------------------------- random state


def seed_everything(seed: int) -> None:
    """Seed torch's global generators (CPU and every device) and python's ``random``: the seeded start."""
    torch.manual_seed(int(seed))
    random.seed(int(seed))


def _get(obj: Any, device: torch.device | None) -> Any:
    if obj is PYTHON_RANDOM:
        return random.getstate()
    if isinstance(obj, str) and obj == TORCH_CPU:
        return torch.get_rng_state()
    if isinstance(obj, str) and obj == TORCH_DEVICE:
        return torch.cuda.get_rng_state(device) if device is not None and device.type == "cuda" else None
    if isinstance(obj, torch.Generator):
        return obj.get_state()
    if isinstance(obj, np.random.Generator):
        return obj.bit_generator.state
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if obj is None:
        return None
    return obj.state_dict()


def _set(obj: Any, value: Any, device: torch.device | None) -> None:
    if obj is PYTHON_RANDOM:
        random.setstate(value)
    elif isinstance(obj, str) and obj == TORCH_CPU:
        torch.set_rng_state(value)
    elif isinstance(obj, str) and obj == TORCH_DEVICE:
        if value is not None and device is not None and device.type == "cuda":
            torch.cuda.set_rng_state(value, device)
    elif isinstance(obj, torch.Generator):
        obj.set_state(value)
    elif isinstance(obj, np.random.Generator):
        obj.bit_generator.state = value
    elif isinstance(obj, torch.Tensor):
        with torch.no_grad():
            obj.copy_(value)
    elif obj is not None:
        obj.load_state_dict(value)


def _python_state(value):
    """python's random state as saved (a tuple); torch.load gives it back as lists."""
    version, internal, gauss = value
    return version, tuple(internal), gauss


# ----------------------------------------------------------------------------- checkpoint file


class CheckpointMismatch(ValueError):
    """A checkpoint of another run (its fingerprint differs)."""


class Checkpoint:
    """The file of a resumable run. ``Checkpoint(folder, fp)``: ``<folder>/<fp[:16]>/<name>`` (``checkpoint.pt``;
    one folder per run: other settings start afresh beside it); ``Checkpoint(path=file, fingerprint=fp)``: that file.
    ``on_mismatch``: ``"raise"`` (a CheckpointMismatch naming the folder to delete) or ``"ignore"`` (start
    afresh; the file is overwritten at the first checkpoint). ``unreadable``: ``"raise"`` or ``"ignore"`` for a
    file torch cannot read (a checkpoint cut short). ``map_location``: where torch.load puts its tensors. ``code``:
    the code version of the training (``codeversion.code_version`` of its module), part of the fingerprint: after a
    code change Snakemake reruns the job, and the job must not resume (or, finished, return) the old code's run."""

    NAME = "checkpoint.pt"

    def __init__(self, folder: str | Path | None = None, fingerprint: str = "", *, path: str | Path | None = None,
                 name: str = NAME, on_mismatch: str = "raise", unreadable: str = "raise", map_location: Any = "cpu",
                 weights_only: bool = True, code: str = "") -> None:
        if (folder is None) == (path is None):
            raise ValueError("Checkpoint: give a folder or a path")
        if code:
            fingerprint = hashlib.sha256(f"{fingerprint}\0code\0{code}".encode()).hexdigest()
        self.path = Path(path) if path is not None else Path(folder) / fingerprint[:16] / name
        self.fingerprint = fingerprint
        self.on_mismatch, self.unreadable = on_mismatch, unreadable
        self.map_location, self.weights_only = map_location, weights_only

    def load(self) -> dict | None:
        """The saved dict of this run, or None (no file; or another run's, or unreadable, where ignored)."""
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location=self.map_location, weights_only=self.weights_only)
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint gets the same treatment
            if self.unreadable == "ignore":
                log.warning("unreadable checkpoint %s (%s); starting again", self.path, exc)
                return None
            raise CheckpointMismatch(f"checkpoint {self.path} cannot be read ({exc}); delete it to start again") from exc
        if not isinstance(state, dict) or state.get("fingerprint") != self.fingerprint:
            if self.on_mismatch == "ignore":
                log.warning("checkpoint %s is of another run (settings, inputs or code differ); starting afresh",
                            self.path)
                return None
            raise CheckpointMismatch(f"checkpoint {self.path} belongs to another run (different settings, inputs or code): "
                                     f"delete {self.path.parent} to start again")
        return state

    def save(self, state: Mapping) -> None:
        save_torch({"fingerprint": self.fingerprint, **state}, self.path)


# ----------------------------------------------------------------------------- the loop


class TrainingLoop:
    """Runs ``total`` steps of a chapter's ``step``, with its evaluation, checkpoints and resume (module doc).

    ``state``: name -> object saved and restored by its kind (a network, optimiser or scheduler: its state dict;
    a tensor: its values; a ``torch.Generator`` / ``numpy.random.Generator``: its state; :data:`PYTHON_RANDOM`,
    :data:`TORCH_CPU`, :data:`TORCH_DEVICE`: the global generators). ``values``: the chapter's bookkeeping
    (plain values: lists, dicts, numbers, tensors), saved as they are and replaced by the saved ones on resume.
    ``checkpoint_every``: steps between checkpoints (None: only at the end); ``checkpoint_last``: also after the
    last step. ``modules``: (name, network) pairs the step reads but the checkpoint does not hold (templates, a
    teacher, frozen targets): with the registered networks they must all be on one device, checked before the
    first step. ``unit``: what a step is, for the progress line (``step``, ``epoch``, ``iteration``).
    """

    def __init__(self, name: str, *, total: int, checkpoint: Checkpoint | None = None,
                 checkpoint_every: int | None = 1, checkpoint_last: bool = True,
                 state: Mapping[str, Any] | None = None, values: Mapping[str, Any] | None = None,
                 modules: Iterable[tuple[str, torch.nn.Module]] = (), unit: str = "step") -> None:
        self.name, self.total, self.unit = name, int(total), unit
        self.checkpoint, self.checkpoint_every, self.checkpoint_last = checkpoint, checkpoint_every, checkpoint_last
        self.state = dict(state or {})
        self.values = dict(values or {})
        self.done = 0
        self.stopped = False
        self.resumed = False
        self.device = check_one_device([*_modules(self.state), *modules], name)

    # -- state
    def state_dict(self) -> dict:
        return {"step": self.done, "stopped": self.stopped,
                **{k: _get(v, self.device) for k, v in self.state.items()}, **self.values}

    def resume(self) -> bool:
        """Load this run's checkpoint if there is one; True when it was loaded."""
        saved = self.checkpoint.load() if self.checkpoint is not None else None
        if saved is None:
            return False
        for k, obj in self.state.items():
            value = saved[k]
            _set(obj, _python_state(value) if obj is PYTHON_RANDOM else value, self.device)
        for k in self.values:
            self.values[k] = saved[k]
        self.done, self.stopped = int(saved["step"]), bool(saved.get("stopped", False))
        self.resumed = True
        log.info("%s: resuming after %s %d of %d from %s", self.name, self.unit, self.done, self.total,
                 self.checkpoint.path)
        return True

    def save(self) -> None:
        """Write the checkpoint now (atomically); a loop without a checkpoint file does nothing."""
        if self.checkpoint is not None:
            self.checkpoint.save(self.state_dict())

    # -- running
    def stop(self) -> None:
        """End the run after the current step (a stop criterion met); a checkpoint records it."""
        self.stopped = True

    @property
    def finished(self) -> bool:
        return self.done >= self.total or self.stopped

    def _due(self, done: int, every: int | None) -> bool:
        return bool(every) and done % int(every) == 0

    def run(self, step: Callable[[int], Any], *, evaluate: Callable[[int], Any] | None = None,
            eval_every: int | None = None, after_checkpoint: Callable[[int], Any] | None = None,
            stop_after: int | None = None) -> bool:
        """Run the steps left (up to ``stop_after`` in all: tests interrupt a run with it); True when finished."""
        end = self.total if stop_after is None else min(self.total, int(stop_after))
        training_blas.check()
        with training_kernels():  # the same kernels on every x86-64 CPU kind (sketch3d.numerics)
            while self.done < end and not self.stopped:
                i = self.done
                step(i)
                self.done = done = i + 1
                if evaluate is not None and (self._due(done, eval_every or 1) or done == self.total):
                    evaluate(done)
                if self._due(done, self.checkpoint_every) or (self.checkpoint_last and done == self.total) \
                        or self.stopped:
                    self.save()
                    if after_checkpoint is not None:
                        after_checkpoint(done)
        return self.finished

    def progress(self, row: Mapping[str, Any], skip: Sequence[str] = ("step", "epoch", "iteration")) -> None:
        """The progress line: ``<name> <unit> <done>/<total>: key=value, ...``."""
        text = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items() if k not in skip)
        log.info("%s %s %d/%d: %s", self.name, self.unit, self.done, self.total, text)


# ----------------------------------------------------------------------------- curves


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def write_curves(path: str | Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    """``curves.csv`` (atomically): a header, one row per evaluation; integers as they are, floats to 6
    significant digits, None / NaN / absent empty. ``columns``: their order (default: every key, first seen
    first). No comment line: ``dvc plots`` and ``pandas.read_csv`` read it as it is."""
    columns = list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in columns])

