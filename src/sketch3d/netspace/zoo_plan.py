"""Which networks the net zoos hold (thesis 5.4, appendix C.4): every member's name, seed, architecture, regime
and epochs, from the params alone (``netspace.zoo`` trains one; its docstring says how the zoos are drawn).

A light module (numpy and the standard library): the workflow's rules build the plan when Snakemake loads them,
so loading the workflow imports no torch.
"""
from __future__ import annotations

import json
import math
import zlib
from dataclasses import asdict, dataclass, field

import numpy as np

from sketch3d.names import SPLITS
from sketch3d.netspace.names import ZOO_SETTINGS

ARCHITECTURE_NAMES = ("lenetlike", "vanillacnn", "resnet8", "resnet32", "resnet56")
"""The classifiers a zoo may hold (netspace.architectures; ResNet56 is the teacher)."""
SETTINGS = ZOO_SETTINGS  # netspace.zoo's sections
MEMBER_SPLITS = SPLITS
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


class ZooError(ValueError):
    """A zoo setting or member file that cannot be used; the message names the key or file and the fix."""


@dataclass(frozen=True)
class Member:
    """One network of a zoo: everything its training reads besides the image set."""

    name: str            # e.g. "multi-resnet8-train-003"; unique, file-name safe
    setting: str         # single | multi | teacher (unseen reuses multi members)
    architecture: str    # netspace.architectures name
    split: str           # train | val | test (of the NetSpace zoo), or "teacher"
    index: int           # position among the members of its setting, architecture and split
    seed: int            # the network's initialisation and batch order
    regime: str          # adam (constant lr) | sgd (momentum, weight decay, step decay)
    epochs: int
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    milestones: tuple[int, ...] = field(default_factory=tuple)
    best_after: int = 0  # best_every > 0: the network kept is the one best on the validation images among the
    best_every: int = 0  # epochs n > best_after with n % best_every == 0 (the peer's multi zoo: 200, 10); 0: the last

    def to_dict(self) -> dict:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    def to_json(self) -> str:
        """The member as one JSON object (what a rule passes to ``sketch3d train_member --member``)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "Member":
        try:
            m = cls(**{**d, "milestones": tuple(int(e) for e in d.get("milestones", ()))})
        except TypeError as e:
            raise ZooError(f"not a zoo member ({e}): {d!r}; pass what zoo.Member.to_json() gives") from None
        _check_member(m)
        return m


def _check_member(m: Member) -> None:
    if m.architecture not in ARCHITECTURE_NAMES:
        raise ZooError(f"member {m.name}: unknown architecture {m.architecture!r}; known {list(ARCHITECTURE_NAMES)}")
    if m.regime not in ("adam", "sgd"):
        raise ZooError(f"member {m.name}: regime must be adam or sgd, got {m.regime!r}")
    if not isinstance(m.epochs, int) or m.epochs < 1:
        raise ZooError(f"member {m.name}: epochs must be a positive integer, got {m.epochs!r}")
    if not m.lr > 0:
        raise ZooError(f"member {m.name}: lr must be positive, got {m.lr!r}")
    if m.best_every < 0 or m.best_after < 0 or (m.best_every and not any(
            n > m.best_after and n % m.best_every == 0 for n in range(1, m.epochs + 1))):
        raise ZooError(f"member {m.name}: keep_best {{after: {m.best_after}, every: {m.best_every}}} names no epoch "
                       f"of its {m.epochs}; lower after or every (params netspace.zoo.multi.keep_best)")


def best_candidate(member: Member, epoch: int) -> bool:
    """Whether the network after 1-based ``epoch`` competes for the member's kept weights (``keep_best``)."""
    return bool(member.best_every) and epoch > member.best_after and epoch % member.best_every == 0


def member_seed(seed: int, name: str) -> int:
    """The seed of member ``name`` under the global ``seed`` (a 31-bit integer; independent of any count)."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]).generate_state(1)[0] & 0x7FFFFFFF)


EPOCH_SPACINGS = ("peer", "log_uniform")


def epoch_grid(low: int, high: int) -> list[int]:
    """The peer's single-zoo epoch counts within [low, high] (``create_nets_dataset_single.py``'s epochs e, 0 to
    599, shifted to e + 1: the thesis's 1 to 600); every count up to 100, every 2nd to 200, 5th to 300, 10th to 400, 25th to 500,
    50th to 600; beyond 600, every 50th)."""
    out = []
    for n in range(1, int(high) + 1):
        step = 1 if n <= 100 else 2 if n <= 200 else 5 if n <= 300 else 10 if n <= 400 else 25 if n <= 500 else 50
        if n % step == 0 and n >= low:
            out.append(n)
    if not out:  # a range between two grid counts: its ends
        out = sorted({int(low), int(high)})
    return out


def spread_epochs(seed: int, key: str, index: int, low: int, high: int, spacing: str = "peer") -> int:
    """Epochs of member ``index`` of a split, along a golden-ratio sequence whose offset is seeded by (``seed``,
    ``key``), so any first n members spread evenly: ``peer``, over :func:`epoch_grid` (uniform over its entries);
    ``log_uniform``, log-uniform in [low, high]."""
    if spacing not in EPOCH_SPACINGS:
        raise ZooError(f"params: netspace.zoo.single.spacing must be one of {list(EPOCH_SPACINGS)}, got {spacing!r}")
    offset = np.random.default_rng(member_seed(seed, key)).random()
    u = (offset + (index + 1) * GOLDEN) % 1.0
    if spacing == "peer":
        grid = epoch_grid(low, high)
        return grid[min(len(grid) - 1, int(u * len(grid)))]
    return int(min(high, max(low, round(low * (high / low) ** u))))


# ----------------------------------------------------------------------------- the plan


def _zoo(settings: dict) -> tuple[int, dict]:
    try:
        return int(settings["seed"]), settings["netspace"]["zoo"]
    except (KeyError, TypeError) as e:
        raise ZooError(f"params: netspace.zoo (or seed) missing ({e}); add it to params.yaml") from None


def _need(cfg: dict, where: str, keys: tuple[str, ...]) -> None:
    if not isinstance(cfg, dict):
        raise ZooError(f"params: {where} must be a mapping, got {cfg!r}")
    missing = [k for k in keys if k not in cfg]
    if missing:
        raise ZooError(f"params: {where} lacks {missing}; add them to params.yaml")


def _counts(value, where: str) -> dict[str, int]:
    if not isinstance(value, dict) or set(value) - set(MEMBER_SPLITS) or not all(
            isinstance(value.get(s, 0), int) and value.get(s, 0) >= 0 for s in MEMBER_SPLITS):
        raise ZooError(f"params: {where} must map train / val / test to counts >= 0, got {value!r}")
    return {s: int(value.get(s, 0)) for s in MEMBER_SPLITS}


def _arch(name, where: str) -> str:
    if name not in ARCHITECTURE_NAMES:
        raise ZooError(f"params: {where} names architecture {name!r}; known {list(ARCHITECTURE_NAMES)}")
    return name


def _sgd_regime(cfg: dict, where: str) -> dict:
    _need(cfg, where, ("epochs", "lr", "momentum", "weight_decay", "milestones"))
    keep = cfg.get("keep_best") or {}
    if keep and (not isinstance(keep, dict) or set(keep) != {"after", "every"}):
        raise ZooError(f"params: {where}.keep_best must be {{after: epochs, every: epochs}} or null, got {keep!r}")
    return {"regime": "sgd", "epochs": int(cfg["epochs"]), "lr": float(cfg["lr"]), "momentum": float(cfg["momentum"]),
            "weight_decay": float(cfg["weight_decay"]), "milestones": tuple(int(e) for e in cfg["milestones"]),
            "best_after": int(keep.get("after", 0)), "best_every": int(keep.get("every", 0))}


def _single(seed: int, zoo: dict) -> list[Member]:
    cfg = zoo["single"]
    _need(cfg, "netspace.zoo.single", ("architecture", "count", "epochs", "optimizer", "lr"))
    arch = _arch(cfg["architecture"], "netspace.zoo.single.architecture")
    if cfg["optimizer"] != "adam":
        raise ZooError(f"params: netspace.zoo.single.optimizer must be adam (thesis C.4), got {cfg['optimizer']!r}")
    ep = cfg["epochs"]
    if not (isinstance(ep, list) and len(ep) == 2 and all(isinstance(e, int) for e in ep) and 1 <= ep[0] <= ep[1]):
        raise ZooError(f"params: netspace.zoo.single.epochs must be [min, max] with 1 <= min <= max, got {ep!r}")
    out = []
    for split, n in _counts(cfg["count"], "netspace.zoo.single.count").items():
        for i in range(n):
            name = f"single-{arch}-{split}-{i:03d}"
            out.append(Member(name, "single", arch, split, i, member_seed(seed, name), "adam",
                              spread_epochs(seed, f"single-{arch}-{split}", i, ep[0], ep[1],
                                            cfg.get("spacing", "peer")), float(cfg["lr"])))
    return out


def _multi(seed: int, zoo: dict) -> list[Member]:
    cfg = zoo["multi"]
    _need(cfg, "netspace.zoo.multi", ("counts",))
    regime = _sgd_regime(cfg, "netspace.zoo.multi")
    if not isinstance(cfg["counts"], dict):
        raise ZooError(f"params: netspace.zoo.multi.counts must map architectures to counts, got {cfg['counts']!r}")
    out = []
    for arch, counts in cfg["counts"].items():
        _arch(arch, "netspace.zoo.multi.counts")
        for split, n in _counts(counts, f"netspace.zoo.multi.counts.{arch}").items():
            for i in range(n):
                name = f"multi-{arch}-{split}-{i:03d}"
                out.append(Member(name, "multi", arch, split, i, member_seed(seed, name), **regime))
    return out


def _teacher(seed: int, zoo: dict) -> list[Member]:
    cfg = zoo["teacher"]
    _need(cfg, "netspace.zoo.teacher", ("architecture",))
    arch = _arch(cfg["architecture"], "netspace.zoo.teacher.architecture")
    regime = _sgd_regime({**zoo.get("multi", {}), **cfg}, "netspace.zoo.teacher (or multi)")
    name = f"teacher-{arch}"
    return [Member(name, "teacher", arch, "teacher", 0, member_seed(seed, name), **regime)]


def zoo_plan(settings: dict) -> list[Member]:
    """Every network to train: the single zoo, the multi zoo, the teacher (the sections present).

    ``settings``: ``{"seed": int, "netspace": {"zoo": {...}}}``; keys of ``netspace.zoo`` (thesis C.4):

    - ``single``: ``architecture`` (resnet8), ``count: {train, val, test}`` (thesis 100 / 16 / 16; demo
      6 / 2 / 2), ``epochs: [min, max]`` (thesis 1..600; demo [1, 6]), ``optimizer: adam``, ``lr`` (thesis
      1e-4 constant; demo 1e-3, so that a few epochs on digits already spread accuracies: 10-79 % measured).
    - ``multi``: ``counts: {arch: {train, val, test}}`` (thesis lenetlike 60, vanillacnn 50, resnet8 60,
      resnet32 100 train, 16 val, 16 test each; demo 2 / 1 / 1 each), ``epochs`` (300; demo 5), ``lr`` (0.05),
      ``momentum`` (0.9), ``weight_decay`` (5e-4), ``milestones`` ([150, 180, 210]: lr x 0.1 after that many
      epochs; demo [3, 4]).
    - ``unseen``: ``counts: {arch: {train, val, test}}`` drawn from the multi members (thesis: lenetlike 40,
      resnet32 80 train; 16 val and 16 test in all from the same two; demo 2 / 1 / 1 each). Trains nothing.
    - ``teacher``: ``architecture`` (resnet56) and any regime key overriding multi's (demo ``epochs: 8``,
      ``milestones: [6, 7]``).

    Measured (demo sizes above, digits 400 / 100 / 200, batch 32, one thread on a shared 2-core machine): the
    whole plan, 27 networks, trains in 335 s one after the other (single 48 s, LeNetLike 2 s, VanillaCNN 5 s,
    ResNet8 36 s, ResNet32 150 s, the teacher 95 s).
    """
    seed, zoo = _zoo(settings)
    unknown = sorted(set(zoo) - set(SETTINGS))
    if unknown:
        raise ZooError(f"params: netspace.zoo has unknown section(s) {unknown}; known {list(SETTINGS)}")
    members = []
    if "single" in zoo:
        members += _single(seed, zoo)
    if "multi" in zoo:
        members += _multi(seed, zoo)
    if "teacher" in zoo:
        members += _teacher(seed, zoo)
    if "unseen" in zoo:
        zoo_members(settings, "unseen", "train", members)  # checks the counts against the multi zoo
    return members


def zoo_members(settings: dict, setting: str, split: str, plan: list[Member] | None = None) -> list[Member]:
    """The members of ``setting`` (single | multi | unseen | teacher) and ``split`` (train | val | test; the
    teacher's is "teacher"), in plan order. ``unseen``: the first ``netspace.zoo.unseen.counts`` multi members
    of each listed architecture."""
    if setting not in SETTINGS:
        raise ZooError(f"setting must be one of {list(SETTINGS)}, got {setting!r}")
    plan = zoo_plan(settings) if plan is None else plan
    if setting != "unseen":
        return [m for m in plan if m.setting == setting and (setting == "teacher" or m.split == split)]
    _, zoo = _zoo(settings)
    cfg = zoo.get("unseen")
    _need(cfg, "netspace.zoo.unseen", ("counts",))
    if "multi" not in zoo:
        raise ZooError("params: netspace.zoo.unseen draws from the multi zoo; add netspace.zoo.multi")
    out = []
    for arch, counts in cfg["counts"].items():
        n = _counts(counts, f"netspace.zoo.unseen.counts.{arch}")
        have = [m for m in plan if m.setting == "multi" and m.architecture == arch]
        for s in MEMBER_SPLITS:
            pool = [m for m in have if m.split == s]
            if n[s] > len(pool):
                raise ZooError(f"params: netspace.zoo.unseen.counts.{arch}.{s} = {n[s]} but the multi zoo has "
                               f"{len(pool)} such members; raise netspace.zoo.multi.counts.{arch}.{s} or lower it")
        out += [m for m in have if m.split == split][: n[split]]
    return out


def member_by_name(settings: dict, name: str) -> Member:
    """The planned member called ``name`` (what a rule's wildcard names)."""
    plan = zoo_plan(settings)
    for m in plan:
        if m.name == name:
            return m
    raise ZooError(f"no zoo member named {name!r} under the current netspace.zoo counts; planned e.g. "
                   f"{[m.name for m in plan[:3]]}")


# ----------------------------------------------------------------------------- training one member
