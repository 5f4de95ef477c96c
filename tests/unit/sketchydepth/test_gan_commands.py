import json

import numpy as np

from sketch3d.cli import main
from sketch3d.sketchydepth.triplets import read_triplets, write_depths, write_triplets


def test_train_gan_then_generate_through_the_cli(tmp_path):
    rng = np.random.default_rng(0)
    write_triplets(tmp_path / "t", ["a", "b"], ["fb", "bo"], rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
                   rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8))
    write_depths(tmp_path / "d", ["a", "b"], rng.integers(0, 256, (2, 32, 32), dtype=np.uint8))
    gan = dict(ngf=2, ndf=2, n_layers_d=3, dropout=0.5, init_gain=0.02, lr=2e-4, beta1=0.5, beta2=0.999,
               l1_weight=100.0, n_epochs=1, n_epochs_decay=0, batch_size=1, flip=True, test_eval=False)
    settings = json.dumps({"seed": 0, "profile": "demo", "sketchydepth": {"gan": gan}})
    assert main(["train_gan", "--model", "no_joint", "--settings", settings, "--train", str(tmp_path / "t"),
                 "--train-depth", str(tmp_path / "d"), "--out", str(tmp_path / "m"),
                 "--checkpoints", str(tmp_path / "ck")]) == 0
    assert (tmp_path / "m" / "final.pt").is_file() and list((tmp_path / "ck").rglob("checkpoint.pt"))
    assert main(["generate", "--model", "no_joint", "--settings", settings, "--checkpoint",
                 str(tmp_path / "m" / "final.pt"), "--triplets", str(tmp_path / "t"), "--out-images",
                 str(tmp_path / "g"), "--out-depth", str(tmp_path / "gd")]) == 0
    assert read_triplets(tmp_path / "g", tmp_path / "gd").depth.shape == (2, 32, 32)
    # a depth model without its depth set: one error, before any training
    assert main(["train_gan", "--model", "sketchydepth", "--settings", settings, "--train", str(tmp_path / "t"),
                 "--out", str(tmp_path / "x")]) == 1
    assert not (tmp_path / "x").exists()
