"""snnkit.train_ann / snnkit.train_snn: the library's training jobs run in-process give the same run as the
`snnkit` command with the same flags (same history, accuracy and saved weights: one implementation behind both
clients), stop with a checkpoint at max_steps and resume to the same end, and refuse unknown options.
Environment (set by CMake's ctest entry): SNNKIT_CLI, SNNKIT_BUILD_DIR.
"""
import json
import os
import subprocess

import pytest
import torch

import snnkit

CLI = os.environ.get("SNNKIT_CLI", os.path.join(os.environ.get("SNNKIT_BUILD_DIR", "build"), "snnkit"))
THREADS = 2
TINY = dict(dataset="fmnist", arch="cnn", epochs=1, batch_size=64, lr=0.05, seed=3, limit_train=256, limit_test=64)


def flags(options):
    return [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]


def command(kind, out, options):
    subprocess.run([CLI, kind, *flags(options), "--out", str(out), "--json", str(out) + ".json", "--quiet",
                    "--threads", str(THREADS)], check=True, capture_output=True)
    with open(str(out) + ".json") as f:
        return json.load(f)


def model_json(out):
    with open(os.path.join(out, "model.json")) as f:
        return json.load(f)


@pytest.fixture(autouse=True)
def threads():
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("kind,extra", [("train-ann", {}), ("train-snn", {"T": 2, "surrogate": "sigmoid"})])
def test_in_process_run_equals_the_command(tmp_path, kind, extra):
    options = dict(TINY, **extra)
    train = snnkit.train_ann if kind == "train-ann" else snnkit.train_snn
    r = train(tmp_path / "py", **options)
    c = command(kind, tmp_path / "cli", options)
    assert isinstance(r["history"], list) and len(r["history"]) == 1 and isinstance(r["history"][0], dict)
    for key in ("train_loss", "train_accuracy", "test_accuracy", "lr", "epoch"):
        assert r["history"][0][key] == c["history"][0][key], key
    assert r["test_accuracy"] == c["test_accuracy"]
    assert r["train"] == c["train"] and r["train_samples"] == 256 and r["test_samples"] == 64
    py, cli = model_json(tmp_path / "py"), model_json(tmp_path / "cli")
    assert py["save_id"] == cli["save_id"]  # a digest of every saved tensor: the same weights
    assert py["meta"]["train"] == cli["meta"]["train"] and py["meta"]["kind"] == cli["meta"]["kind"]


def test_max_steps_stops_with_a_checkpoint_and_resume_finishes_the_same_run(tmp_path):
    options = dict(TINY, epochs=2, limit_train=192)  # 3 steps per epoch
    whole = snnkit.train_ann(tmp_path / "whole", **options)
    part = snnkit.train_ann(tmp_path / "split", max_steps=4, **options)
    assert part == {"interrupted": True, "epochs": 1}
    assert not os.path.exists(tmp_path / "split" / "model.json")
    rest = snnkit.train_ann(tmp_path / "split", resume=True, **options)
    assert [h["train_loss"] for h in rest["history"]] == [h["train_loss"] for h in whole["history"]]
    assert model_json(tmp_path / "split")["save_id"] == model_json(tmp_path / "whole")["save_id"]


def test_bad_options_raise_one_clear_error(tmp_path):
    with pytest.raises(snnkit.Error, match=r"snnkit.train_ann: unknown option 'batchsize' \(known: .*batch_size"):
        snnkit.train_ann(tmp_path / "x", batchsize=3)
    with pytest.raises(snnkit.Error, match=r"snnkit.train_snn: option 'T' has the wrong type \(str\)"):
        snnkit.train_snn(tmp_path / "x", T="four")
    with pytest.raises(snnkit.Error, match=r"surrogate: unknown name .nope."):
        snnkit.train_snn(tmp_path / "x", surrogate="nope", **TINY)
    assert not os.path.exists(tmp_path / "x" / "model.json")
