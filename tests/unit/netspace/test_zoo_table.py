"""netspace.zoo_table: Table C.1 from member files, beside the thesis's half for the image set used."""
import json

import pandas as pd
import pytest
import torch

from sketch3d import DEMO_NOTICE
from sketch3d.atomic import save_torch
from sketch3d.netspace.zoo import FORMAT
from sketch3d.netspace.zoo_table import ZooTableError, to_markdown, zoo_table

PARAMS = {"lenetlike": 62006, "resnet8": 78042, "resnet56": 855770}
CLASS_IDS = {"lenetlike": 0, "resnet8": 2, "resnet56": None}


def write_member(folder, setting, arch, split, index, test_acc, dataset="digits"):
    name = f"{setting}-{arch}-{split}-{index:03d}" if setting != "teacher" else f"teacher-{arch}"
    meta = {"format": FORMAT, "name": name, "architecture": arch, "class_id": CLASS_IDS[arch], "num_classes": 10,
            "image_size": 32, "dataset": dataset, "epochs": 3, "seed": index, "params": PARAMS[arch],
            "params_folded": PARAMS[arch], "val_accuracy": 0.0, "test_accuracy": test_acc, "unfolded": {},
            "curve": [], "member": {"name": name, "setting": setting, "architecture": arch, "split": split},
            "state_dict": {"w": torch.zeros(2)}}
    path = folder / f"{name}.pt"
    save_torch(meta, path)
    return path


def zoo_files(tmp_path, dataset="digits"):
    return [
        write_member(tmp_path, "multi", "lenetlike", "train", 0, 60.0, dataset),
        write_member(tmp_path, "multi", "lenetlike", "train", 1, 70.0, dataset),
        write_member(tmp_path, "multi", "lenetlike", "test", 0, 10.0, dataset),  # not a training member
        write_member(tmp_path, "multi", "resnet8", "train", 0, 80.0, dataset),
        write_member(tmp_path, "single", "resnet8", "train", 0, 50.0, dataset),
        write_member(tmp_path, "single", "resnet8", "val", 0, 75.0, dataset),
        write_member(tmp_path, "single", "resnet8", "test", 0, 65.0, dataset),
        write_member(tmp_path, "teacher", "resnet56", "teacher", 0, 90.0, dataset),
    ]


def test_table_c1_from_member_files(tmp_path):
    out = tmp_path / "out"
    df = zoo_table(zoo_files(tmp_path), out / "t.csv", out / "t.md", out / "t.json", "demo")
    cell = df.set_index(["method", "metric"])
    assert cell.loc[("LeNetLike", "acc_sgd"), "ours"] == 65.0  # mean of the two training members only
    assert cell.loc[("LeNetLike", "acc_sgd"), "ours_spread"] == 5.0
    assert cell.loc[("LeNetLike", "acc_sgd"), "thesis"] == 70.87  # CIFAR-10's half for the digits
    assert cell.loc[("ResNet8", "acc_adam"), "ours"] == 75.0  # the best single-setting member
    assert cell.loc[("ResNet8", "acc_adam"), "thesis"] == 82.79
    assert cell.loc[("ResNet56", "acc_sgd"), "ours"] == 90.0 and cell.loc[("ResNet56", "acc_sgd"), "thesis"] == 92.85
    assert cell.loc[("ResNet8", "params"), "difference"] == 0 and cell.loc[("ResNet8", "class_id"), "ours"] == 2
    assert ("ResNet56", "class_id") not in cell.index and ("LeNetLike", "acc_adam") not in cell.index
    assert list(dict.fromkeys(df["method"])) == ["LeNetLike", "ResNet8", "ResNet56"]  # the thesis's order
    assert DEMO_NOTICE in (out / "t.md").read_text()
    assert json.loads((out / "t.json").read_text())["ResNet8"]["CIFAR-10"]["acc_adam"] == 75.0
    csv = pd.read_csv(out / "t.csv")
    assert len(csv) == len(df)
    assert csv.set_index(["method", "metric"]).loc[("LeNetLike", "params"), "ours"] == 62006  # numbers, not text


def markdown_rows(text):
    """The Markdown table's body as {method: [cells]} and its header."""
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("|")]
    return rows[0], {r[0]: r[1:] for r in rows[2:]}


def test_markdown_prints_counts_as_integers_and_missing_values_as_a_dash(tmp_path):
    zoo_table(zoo_files(tmp_path), tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json", "demo")
    text = (tmp_path / "t.md").read_text()
    header, rows = markdown_rows(text)
    col = {name.split()[-1]: k for k, name in enumerate(header[1:])}
    assert rows["LeNetLike"][col["params"]] == "62,006 (62,006, +0)"
    assert rows["ResNet56"][col["params"]] == "855,770 (855,770, +0)"
    assert rows["ResNet8"][col["class_id"]] == "2 (2, +0)"
    assert rows["LeNetLike"][col["acc_sgd"]] == "65.00 ± 5.00 (70.87, -5.87)"
    assert rows["ResNet56"][col["class_id"]] == "-" and rows["LeNetLike"][col["acc_adam"]] == "-"
    assert "nan" not in text and "62006.00" not in text


def test_markdown_marks_a_value_the_thesis_lacks():
    df = pd.DataFrame([
        {"method": "X", "category": "CIFAR-10", "metric": "params", "thesis": None, "ours": 1234567.0,
         "difference": None, "profile": "paper"},
        {"method": "X", "category": "CIFAR-10", "metric": "acc_sgd", "thesis": 50.0, "ours": 49.5,
         "difference": -0.5, "profile": "paper"},
    ])
    _, rows = markdown_rows(to_markdown(df, "t"))
    assert rows["X"] == ["1,234,567 (thesis: -)", "49.50 (50.00, -0.50)"]


def test_tiny_imagenet_is_compared_with_its_half(tmp_path):
    df = zoo_table(zoo_files(tmp_path, "tinyimagenet"), tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json",
                   "paper")
    cell = df.set_index(["method", "metric"])
    assert cell.loc[("LeNetLike", "acc_sgd"), "thesis"] == 22.13 and set(df["category"]) == {"Tiny-ImageNet"}


def test_mixed_or_missing_members_are_refused(tmp_path):
    files = zoo_files(tmp_path) + [write_member(tmp_path, "multi", "resnet8", "train", 5, 1.0, "cifar10")]
    with pytest.raises(ZooTableError, match="same half"):
        zoo_table(files, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json", "demo")
    from sketch3d.netspace.zoo import ZooError

    with pytest.raises(ZooError, match="train_member"):
        zoo_table([tmp_path / "absent.pt"], tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.json", "demo")


def test_table_c1_carries_both_datasets(tmp_path):
    (tmp_path / "tin").mkdir(), (tmp_path / "c10").mkdir()
    files = zoo_files(tmp_path / "tin", "tinyimagenet") + zoo_files(tmp_path / "c10", "cifar10")
    out = tmp_path / "out"
    df = zoo_table(files, out / "t.csv", out / "t.md", out / "t.json", "paper")
    assert list(dict.fromkeys(df["category"])) == ["Tiny-ImageNet", "CIFAR-10"]
    cell = df.set_index(["category", "method", "metric"])
    assert cell.loc[("Tiny-ImageNet", "LeNetLike", "acc_sgd"), "thesis"] == 22.13
    assert cell.loc[("CIFAR-10", "LeNetLike", "acc_sgd"), "thesis"] == 70.87
    md = (out / "t.md").read_text()
    assert "Tiny-ImageNet acc_sgd" in md and "CIFAR-10 acc_sgd" in md
