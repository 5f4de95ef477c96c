import argparse
import dataclasses
import json
import shlex
from pathlib import Path

import pytest

from sketch3d.cli import build_parser, commands, main, person_commands

REPO = Path(__file__).resolve().parents[2]


def test_check_params_ok_and_bad(capsys):
    assert main(["check-params", "--params", str(REPO / "params.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["check-params", "--params", str(REPO / "params.yaml"), "--set", "profile=nope"]) == 1


def test_bad_settings_json_is_reported(tmp_path, caplog):
    rc = main(["render_gallery", "--settings", "{not json", "--shapes", "x", "--category", "chair", "--split", "test",
               "--out", str(tmp_path)])
    assert rc == 1 and "not valid JSON" in caplog.text


def test_fetch_of_an_unregistered_path_names_the_registered_ones(tmp_path, caplog):
    rc = main(["fetch", "--data-dir", str(tmp_path), "--out", str(tmp_path / "downloads" / "nope.zip")])
    assert rc == 1 and "AmateurSketch-3DChair.zip" in caplog.text


def test_table_command_writes_three_files(tmp_path):
    import numpy as np

    m = tmp_path / "m.json"
    m.write_text(json.dumps({"profile": "demo", "method": "baseline", "category": "lamp", "n_queries": 3,
                             "n_shapes": 3, "acc@1": 33.3333, "acc@5": 100.0, "chance@1": 33.33,
                             "mAP": 61.1111, "MRR": 61.1111, "median_rank": 2.0}))
    np.savez(tmp_path / "m.npz", query_ids=np.array(["a", "b", "c"]), ranks=np.array([0, 1, 2]))
    settings = json.dumps({"seed": 0, "retrieval": {"stats": {"bootstrap": 100, "ci_level": 0.95,
                                                              "mcnemar_exact_below": 25}}})
    rc = main(["retrieval_table", "--table", "4.8", "--thesis", str(REPO / "src/sketch3d/reference/table_4_8.csv"),
               "--metrics", str(m), "--ranks", str(tmp_path / "m.npz"), "--settings", settings,
               "--out-csv", str(tmp_path / "t.csv"),
               "--out-md", str(tmp_path / "t.md"), "--out-json", str(tmp_path / "t.json")])
    assert rc == 0
    out = json.loads((tmp_path / "t.json").read_text())["Baseline"]["lamp"]
    assert out["acc@1"] == 33.33 and out["median_rank"] == 2.0 and out["acc@1_ci_high"] <= 100.0


# ----------------------------------------------------------------------------- the help a person reads

PERSON = {"check your setup": ["check-params", "preflight", "check_generator"],
          "your sketches to 3D shapes": ["reconstruct", "query"],
          "your images and depth maps": ["effects", "photo3d", "depth_sketch"]}


def _out(capsys, argv) -> str:
    """What `sketch3d ARGV` prints (argparse's help exits, a command returns), checking that it succeeded."""
    try:
        rc = main(argv)
    except SystemExit as stop:
        rc = stop.code
    assert rc == 0
    return capsys.readouterr().out


def test_help_lists_a_persons_commands_first_grouped_each_with_an_example(capsys):
    text = _out(capsys, ["--help"])
    lines = text.splitlines()
    headings = [f"{g}:" for g in PERSON] + ["pipeline steps:", "options:"]
    at = [lines.index(h) for h in headings]
    assert at == sorted(at), text
    for (group, names), start, end in zip(PERSON.items(), at, at[1:]):
        section = lines[start + 1:end]
        listed = [line.split()[0] for line in section if line.startswith("  ") and not line.startswith("   ")]
        assert listed == names, (group, section)
        for name in names:  # its example on the lines that follow it, before the next command
            i = next(k for k, line in enumerate(section) if line.split()[:1] == [name])
            assert any(line.strip().startswith(f"$ sketch3d {name} ") for line in section[i + 1:i + 4]), section
    steps = [n for n, c in commands().items() if not c.group]
    assert len(steps) > 40 and f"{len(steps)} commands" in text and "sketch3d steps" in text
    flat = set(text.replace(",", " ").split())
    assert not flat & set(steps), f"step commands in --help: {flat & set(steps)}"  # not one flat line of 56 names
    assert len(lines) < 60


def test_steps_lists_every_pipeline_command_once_under_its_package(capsys):
    text = _out(capsys, ["steps"])
    listed, package = {}, None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            package = line[:-1]
        elif line.startswith("  ") and not line.startswith("   ") and package:
            listed.setdefault(line.split()[0], []).append(package)
    cmds = commands()
    expected = {n: [c.run.__module__.split(".")[1]] for n, c in cmds.items() if not c.group}
    assert listed == expected
    assert {"data", "features", "render", "retrieval", "sketchydepth", "reconstruction", "netspace"} <= {
        p for ps in listed.values() for p in ps}
    assert listed["train_gan"] == ["sketchydepth"] and listed["extract_features"] == ["features"]


def test_every_command_name_and_each_example_still_parse(capsys):
    """The rules call every command by name: all stay subcommands; a person's example is a valid command line."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {*commands(), "steps"}
    for group, names in PERSON.items():
        for name in names:
            cmd = commands()[name]
            assert cmd.group == group
            args = parser.parse_args(shlex.split(cmd.example)[1:])
            assert args.command == name and args.func is cmd.run
            assert f"$ {cmd.example}" in _out(capsys, [name, "-h"])  # and in the command's own help


def test_a_persons_command_needs_a_known_group_and_an_example():
    cmd = commands()["query"]
    with pytest.raises(RuntimeError, match="must be one of"):
        person_commands({"query": dataclasses.replace(cmd, group="misc")})
    with pytest.raises(RuntimeError, match="example"):
        person_commands({"query": dataclasses.replace(cmd, example="")})
