"""netspace.teacher_logits: the teacher's logits computed once by their own rule equal what the trainings and the
latent optimisation compute for themselves; the file refuses other images; a multi training reading it is the
one that computes them."""
import pytest
import torch

from helpers_netspace import SMALL_MODEL, images, nets
from sketch3d.netspace import teacher_logits as TL
from sketch3d.netspace import training as T
from sketch3d.numerics import training_kernels


def test_the_file_holds_the_logits_the_trainings_compute(tmp_path):
    x, _ = images(30)
    teacher = nets("lenetlike", 1, 50)[0][0]
    logits = TL.compute(teacher, x)
    with torch.no_grad():
        own = teacher.eval()(x)  # the teacher run directly on every image, one batch
    assert logits.shape == (30, 10) and torch.allclose(logits, own, atol=1e-5)
    with training_kernels():
        built = T.FixedLogits.build({"teacher": teacher}, x, "cpu")
    assert torch.equal(logits, built.logits["teacher"])  # the same kernels and batches: the same bits
    TL.write(tmp_path / "t.pt", logits, x, "teacher.pt")
    assert torch.equal(TL.read(tmp_path / "t.pt", x), logits)
    first = (tmp_path / "t.pt").read_bytes()
    TL.write(tmp_path / "t.pt", logits, x, "teacher.pt")  # a new temporary file: the same bytes (DVC's hash holds)
    assert (tmp_path / "t.pt").read_bytes() == first


def test_the_file_refuses_other_images_and_names_the_fix(tmp_path):
    x, _ = images(30)
    teacher = nets("lenetlike", 1, 50)[0][0]
    TL.write(tmp_path / "t.pt", TL.compute(teacher, x), x, "teacher.pt")
    other = x.clone()
    other[3, 0, 0, 0] += 1.0  # one pixel of one image
    with pytest.raises(TL.TeacherLogitsError, match="other training images.*rerun its teacher_logits rule"):
        TL.read(tmp_path / "t.pt", other)
    with pytest.raises(TL.TeacherLogitsError, match="other training images"):
        TL.read(tmp_path / "t.pt", x[:29])
    with pytest.raises(TL.TeacherLogitsError, match="no teacher-logits file"):
        TL.read(tmp_path / "missing.pt", x)
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(TL.TeacherLogitsError, match="bad.pt: unreadable"):
        TL.read(tmp_path / "bad.pt", x)
    torch.save({"logits": torch.zeros(30, 10)}, tmp_path / "foreign.pt")
    with pytest.raises(TL.TeacherLogitsError, match="not a teacher-logits file"):
        TL.read(tmp_path / "foreign.pt", x)
    with pytest.raises(T.TrainingInputError, match="do not match the 30 training images"):
        T.FixedLogits.given("teacher", torch.zeros(29, 10), x, "cpu")


def test_a_multi_training_reading_the_file_is_the_one_that_computes_them(tmp_path):
    x, y = images(24)
    train, val = nets("lenetlike", 2, 0) + nets("resnet8", 1, 3), nets("lenetlike", 1, 10)
    teacher = nets("lenetlike", 1, 50)[0][0]
    settings = {"training": {"steps": 4, "eval_every": 2, "nets_per_batch": 2, "images_per_net": 8, "seed": 3,
                             "architecture_from": "target", "model_choice": "reconstructions"},
                "model": SMALL_MODEL, "prep": {"width": 4096}}
    runs = {}
    for name, extra in (("computed", {}), ("read", {"teacher_logits": TL.compute(teacher, x)})):
        data = {"train": (x, y), "val": (x[:8], y[:8]), **extra}
        T.train_netspace("multi", train, val, data, teacher, settings, tmp_path / name, tmp_path / f"ck_{name}")
        runs[name] = T.load_netspace(tmp_path / name / "model.pt")[0].state_dict()
    assert all(torch.equal(runs["computed"][k], runs["read"][k]) for k in runs["computed"])


def test_a_latent_optimisation_reading_the_file_is_the_one_that_computes_them():
    from sketch3d.netspace import latent
    from sketch3d.netspace.model import NetSpace

    (net, record), = nets("lenetlike", 1, 0)
    templates = T.templates_for([net], "single")
    height = T.common_height(templates, 2048)
    torch.manual_seed(0)
    model = NetSpace((height, 2048), SMALL_MODEL["embedding"], None, SMALL_MODEL["channels"])
    start = T.make_targets([(net, record)], 2048, height)[0]
    x, y = images(24)
    teacher = nets("lenetlike", 1, 7)[0][0]
    data = {"train": (x, y), "val": (x[:8], y[:8]), "test": (x[8:], y[8:])}
    s = {"steps": 3, "eval_every": 1, "images_per_step": 8, "lr": 1e-2}
    computed = latent.optimise_latent(model, start, teacher, data, s)
    read = latent.optimise_latent(model, start, teacher, {**data, "teacher_logits": TL.compute(teacher, x)}, s)
    assert computed == read  # every accuracy and loss of the curve, exactly


def test_augmented_images_have_no_table_of_logits_and_the_error_names_who_asked():
    from sketch3d.command_line import CliError
    from sketch3d.netspace import commands as C

    x, y = images(4)
    augmented = {"train": (x, y), "train_transform": lambda b, g: b}
    with pytest.raises(CliError, match=r"--teacher-logits m/t\.pt: the training images are augmented"):
        C._with_teacher_logits(augmented, "m/t.pt")
    with pytest.raises(CliError, match=r"^teacher_logits: the training images are augmented"):
        C._fixed_training_images(augmented, "teacher_logits")
    assert C._with_teacher_logits(augmented, None) is augmented  # no file asked for: the data as they are
    assert C._fixed_training_images({"train": (x, y)}, "teacher_logits") is x
