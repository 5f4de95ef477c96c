"""sketch3d.training_loop: exact resume of every kind of state, checkpoint cadence, fingerprint, curves, devices."""
import hashlib
import json
import random

import numpy as np
import pytest
import torch

from sketch3d.training_loop import (PYTHON_RANDOM, TORCH_CPU, TORCH_DEVICE, Checkpoint, CheckpointMismatch,
                                    TrainingLoop, check_one_device, fingerprint, write_curves)


class Interrupt(Exception):
    pass


def _run(folder, total=7, every=3, interrupt_at=None, eval_every=2):
    """A toy training that draws from every generator the loop keeps: torch's global one, a torch.Generator, a
    numpy Generator, python's random; a linear model, Adam and a StepLR schedule."""
    torch.manual_seed(0)
    random.seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, 2, 0.5)
    gen, rng = torch.Generator().manual_seed(1), np.random.default_rng(2)
    loop = TrainingLoop("toy", total=total, checkpoint=Checkpoint(folder, fingerprint("toy", total)),
                        checkpoint_every=every,
                        state={"model": model, "opt": opt, "sched": sched, "gen": gen, "rng": rng,
                               "torch": TORCH_CPU, "device": TORCH_DEVICE, "python": PYTHON_RANDOM},
                        values={"curve": [], "sum": 0.0})
    loop.resume()
    v, saved = loop.values, []

    def step(i):
        if i == interrupt_at:
            raise Interrupt
        x = torch.randn(4, 3, generator=gen) + torch.randn(4, 3) + float(rng.normal()) + random.random()
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        v["sum"] += float(loss.detach())

    def evaluate(done):
        v["curve"].append({"step": done, "loss": v["sum"]})

    finished = loop.run(step, evaluate=evaluate, eval_every=eval_every, after_checkpoint=saved.append)
    return finished, v["curve"], [p.detach().clone() for p in model.parameters()], saved, loop


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    done, whole, params, saved, _ = _run(tmp_path / "a")
    assert done and saved == [3, 6, 7]  # every 3 steps and at the last
    assert [r["step"] for r in whole] == [2, 4, 6, 7]  # every 2 steps and at the last
    with pytest.raises(Interrupt):
        _run(tmp_path / "b", interrupt_at=5)  # the checkpoint holds step 3: steps 4-5 are redone
    torch.manual_seed(99)  # the resumed run must not depend on the process's generators
    random.seed(99)
    done, resumed, params_b, saved_b, loop = _run(tmp_path / "b")
    assert done and loop.resumed and saved_b == [6, 7]
    assert resumed == whole
    assert all(torch.equal(a, b) for a, b in zip(params, params_b))


def test_stop_after_and_stop(tmp_path):
    model = torch.nn.Linear(1, 1)
    loop = TrainingLoop("s", total=10, checkpoint=Checkpoint(tmp_path / "s", "fp"), checkpoint_every=4,
                        state={"model": model})
    assert not loop.run(lambda i: None, stop_after=6) and loop.done == 6  # no checkpoint at 6: the last is 4
    assert torch.load(loop.checkpoint.path, weights_only=True)["step"] == 4

    def evaluate(done):
        if done == 7:
            loop.stop()

    assert loop.run(lambda i: None, evaluate=evaluate) and loop.done == 7 and loop.stopped
    state = torch.load(loop.checkpoint.path, weights_only=True)
    assert state["step"] == 7 and state["stopped"]  # a stop is checkpointed: a rerun does no more steps
    again = TrainingLoop("s", total=10, checkpoint=Checkpoint(tmp_path / "s", "fp"), state={"model": model})
    assert again.resume() and again.run(lambda i: pytest.fail("no step after a stop")) and again.done == 7


def test_a_checkpoint_of_another_run_is_refused_or_ignored(tmp_path):
    path = tmp_path / "c.pt"
    Checkpoint(path=path, fingerprint="a").save({"step": 3})
    with pytest.raises(CheckpointMismatch, match=f"belongs to another run.*delete {tmp_path}"):
        Checkpoint(path=path, fingerprint="b").load()
    assert Checkpoint(path=path, fingerprint="b", on_mismatch="ignore").load() is None
    assert Checkpoint(path=path, fingerprint="a").load()["step"] == 3
    path.write_bytes(b"cut short")
    with pytest.raises(CheckpointMismatch, match="cannot be read"):
        Checkpoint(path=path, fingerprint="a").load()
    assert Checkpoint(path=path, fingerprint="a", unreadable="ignore").load() is None
    assert Checkpoint(tmp_path, "0123456789abcdefXYZ").path == tmp_path / "0123456789abcdef" / "checkpoint.pt"


def test_fingerprint_hashes_each_part_by_its_kind():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    h = hashlib.sha256()
    h.update(json.dumps({"b": 1, "a": [1, 2]}, sort_keys=True).encode())
    h.update(b"raw")
    h.update("text".encode())
    h.update(np.ascontiguousarray(a.T).tobytes())
    h.update(a.tobytes())
    assert fingerprint({"a": [1, 2], "b": 1}, b"raw", "text", a.T, torch.from_numpy(a)) == h.hexdigest()
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_curves_file_format(tmp_path):
    write_curves(tmp_path / "curves.csv", [{"step": 0, "loss": None, "acc": 12.0},
                                           {"step": 5, "loss": 0.123456789, "acc": float("nan"), "lr": 1e-4}])
    assert (tmp_path / "curves.csv").read_text() == "step,loss,acc,lr\n0,,12,\n5,0.123457,,0.0001\n"
    write_curves(tmp_path / "c2.csv", [{"b": 1.5, "a": 2}], columns=["a", "b"])
    assert (tmp_path / "c2.csv").read_text() == "a,b\n2,1.5\n"


def test_networks_on_two_devices_are_refused_before_the_first_step():
    """A network the step reads (a template, a teacher) left on the CPU beside a model on the device fails on the
    first step of a GPU job; the loop names it before any step (``meta`` stands for the GPU)."""
    model = torch.nn.Linear(2, 2).to("meta")
    template = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"template\.weight is on cpu while model\.weight is on meta"):
        TrainingLoop("t", total=1, state={"model": model}, modules=[("template", template)])
    loop = TrainingLoop("t", total=1, state={"model": model}, modules=[("template", template.to("meta"))])
    assert loop.device == torch.device("meta")
    assert check_one_device([]) is None


def test_steps_run_on_the_pinned_training_kernels(monkeypatch):
    monkeypatch.delenv("SKETCH3D_NATIVE_KERNELS", raising=False)
    seen = []
    loop = TrainingLoop("k", total=2)
    loop.run(lambda i: seen.append(torch.backends.mkldnn.enabled),
             evaluate=lambda done: seen.append(torch.backends.mkldnn.enabled))
    assert seen == [False] * 4 and torch.backends.mkldnn.enabled  # restored after the run


def test_a_checkpoint_of_other_code_is_not_resumed(tmp_path):
    """The code version is part of what a checkpoint belongs to: after a code change Snakemake reruns the job, and
    the job must start afresh, not resume (or, finished, hand back) the old code's run."""
    from sketch3d.training_loop import Checkpoint, CheckpointMismatch

    old = Checkpoint(tmp_path, "fp", code="aaaa")
    old.save({"step": 5})
    assert Checkpoint(tmp_path, "fp", code="aaaa").load()["step"] == 5
    assert Checkpoint(tmp_path, "fp", code="bbbb").load() is None  # another folder: a fresh start
    same_file = Checkpoint(path=old.path, fingerprint="fp", code="bbbb")
    with pytest.raises(CheckpointMismatch, match="settings, inputs or code"):
        same_file.load()
    assert Checkpoint(path=old.path, fingerprint="fp", code="bbbb", on_mismatch="ignore").load() is None
