"""Tiny nets, images and NetSpace settings shared by the chapter's training / latent tests."""
import torch

from sketch3d.netspace import architectures

SMALL_MODEL = {"embedding": 256, "channels": {"grow": 8, "mid": 4, "wide": 16, "deep": 8}}


def nets(arch: str, n: int, seed0: int, hidden: int = 8) -> list:
    """``n`` random nets of ``arch`` (eval mode) with their records, as ``training.load_net`` returns them."""
    out = []
    for i in range(n):
        if arch == "siren":
            net = architectures.build("siren", hidden=hidden, seed=seed0 + i)
        else:
            net = architectures.build(arch, 10, 32, seed=seed0 + i)
        net.eval()
        record = {"name": f"{arch}_{seed0 + i:03d}", "architecture": arch}
        if arch == "siren":  # the shape's sample points fit_sdf_mlp keeps: 50 outside, 30 inside (a small ball)
            g = torch.Generator().manual_seed(seed0 + i)
            record["query_points"] = {"outside": torch.rand(50, 3, generator=g) * 2 - 1,
                                      "inside": torch.rand(30, 3, generator=g) * 0.2 - 0.1}
        out.append((net, record))
    return out


def images(n: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)
