"""Every model kind the library saves, read by PyTorch, predicts what actgrad does.

    roundtrip_test.py ACTGRAD MODELS_DIR PLUGIN BREAST_CANCER_CSV

For the MLP `actgrad train --save` writes, a user module kind (from a
plugin), an LSTM cell, a float64 network and one network per registered
activation: tools/actgrad_torch.py rebuilds the model in PyTorch, and its
outputs on the same rows match `actgrad predict --json` to 1e-5 relative
(1e-6 absolute for outputs near zero, where float32's rounding of the
layers before decides). The other way, networks built in PyTorch and
written by actgrad_torch.save — every activation torch has a kind for, and
the user kind — predict the same in actgrad. Exits 77 (skipped) without
PyTorch.
"""

import csv
import glob
import json
import os
import subprocess
import sys

try:
    import torch
    from torch import nn
except ImportError:
    print("PyTorch is not installed (Debian: python3-torch); skipping")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import actgrad_torch  # pylint: disable=wrong-import-position

RELATIVE = 1e-5
ABSOLUTE = 1e-6


class ResidualBlock(nn.Module):
    # The C++ block's Kind(); its parent builds it, so it needs no options.
    actgrad_kind = "residual"
    actgrad_options = {}

    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x):
        return x + self.fc2(torch.tanh(self.fc1(x)))


class ResidualNet(nn.Module):
    """tests/residual_net.h's ResidualNet."""

    actgrad_kind = "residual_net"

    def __init__(self, inputs, width, classes):
        super().__init__()
        self.actgrad_options = {"inputs": inputs, "width": width, "classes": classes,
                                "dtype": "float32"}
        # `in` is a Python keyword: the child is set under its saved name.
        setattr(self, "in", nn.Linear(inputs, width))
        self.block1 = ResidualBlock(width)
        self.block2 = ResidualBlock(width)
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        h = torch.tanh(getattr(self, "in")(x))
        return self.head(self.block2(self.block1(h)))


@actgrad_torch.register("residual_net")
def build_residual(options, children):
    del children
    return ResidualNet(options["inputs"], options["width"], options["classes"])


def rows_of(path, drop_last_column):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [[float(v) for v in (r[:-1] if drop_last_column else r)] for r in rows]


def actgrad_predict(actgrad, model, data, plugin):
    command = [actgrad, "predict", "--model", model, "--data", data, "--json"]
    if plugin:
        command += ["--plugin", plugin]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    predictions = json.loads(out)["predictions"]
    if "probabilities" in predictions[0]:
        return torch.tensor([p["probabilities"] for p in predictions], dtype=torch.float64), True
    if "value" in predictions[0]:
        return torch.tensor([[p["value"]] for p in predictions], dtype=torch.float64), False
    return torch.tensor([p["values"] for p in predictions], dtype=torch.float64), False


def compare(name, ours, theirs):
    difference = (ours - theirs).abs()
    allowed = RELATIVE * theirs.abs() + ABSOLUTE
    worst = (difference / allowed).max().item()
    where = (difference / allowed).argmax().item()
    print(f"{name:28s} rows {ours.shape[0]:4d}  max |diff| {difference.max().item():.2e}  "
          f"worst/allowed {worst:.3f}")
    if worst > 1:
        print(f"  FAIL at flat index {where}: actgrad {ours.flatten()[where].item():.9g}, "
              f"torch {theirs.flatten()[where].item():.9g}")
        return False
    return True


def main():
    actgrad, models_dir, plugin, breast_cancer = sys.argv[1:5]
    mlp = os.path.join(models_dir, "mlp.safetensors")
    subprocess.run([actgrad, "train", "--epochs", "5", "--no-progress", "--save", mlp],
                   check=True, capture_output=True)
    cases = [("mlp (actgrad train)", mlp, breast_cancer, True)]
    inputs = os.path.join(models_dir, "inputs.csv")
    for path in sorted(glob.glob(os.path.join(models_dir, "*.safetensors"))):
        if path != mlp:
            cases.append((os.path.basename(path), path, inputs, False))
    kinds = set()
    ok = True
    for name, model, data, labelled in cases:
        info = actgrad_torch.load(model)[2]
        collect_kinds(info["architecture"], kinds)
        ours, _ = actgrad_predict(actgrad, model, data, plugin)
        theirs = actgrad_torch.predict(model, rows_of(data, labelled)).to(torch.float64)
        ok &= compare(name, ours, theirs)
    print("kinds covered:", ", ".join(sorted(kinds)))
    ok &= torch_to_actgrad(actgrad, models_dir, inputs, plugin)
    return 0 if ok else 1


def torch_to_actgrad(actgrad, models_dir, inputs, plugin):
    """Networks built in PyTorch, saved for actgrad, predict the same there."""
    torch.manual_seed(3)
    rows = torch.tensor(rows_of(inputs, False), dtype=torch.float32)
    activations = [nn.Identity(), nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.LeakyReLU(0.2),
                   nn.ELU(0.7), nn.SELU(), nn.GELU(), nn.GELU(approximate="tanh"),
                   nn.Softplus(0.7, threshold=1e30), nn.SiLU(), nn.Mish(),
                   nn.Hardtanh(-0.75, 1.25), nn.Hardsigmoid(), nn.Softsign()]
    cases = [(f"torch {type(a).__name__}", nn.Sequential(nn.Linear(4, 6), a, nn.Linear(6, 2)),
              {"task": "regression"}) for a in activations]
    cases.append(("torch softmax classifier",
                  nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3), nn.Softmax(dim=1)),
                  {"task": "multiclass", "output": "probabilities", "labels": ["x", "y", "z"]}))
    cases.append(("torch residual_net (user kind)", ResidualNet(4, 5, 3),
                  {"task": "multiclass", "output": "logits"}))
    # Like actgrad's own writers, save refuses to replace a link.
    link = os.path.join(models_dir, "link.safetensors")
    os.symlink(inputs, link)
    try:
        actgrad_torch.save(cases[0][1], link)
        print("actgrad_torch.save replaced a symbolic link")
        return False
    except ValueError as e:
        print("refused as it should:", e)
    ok = True
    for name, model, info in cases:
        model.eval()
        path = os.path.join(models_dir, "from_torch.safetensors")
        actgrad_torch.save(model, path, dict(info, features=["f0", "f1", "f2", "f3"]))
        ours, _ = actgrad_predict(actgrad, path, inputs, plugin)
        with torch.no_grad():
            theirs = model(rows).to(torch.float64)
        if info.get("output") == "logits":
            theirs = torch.softmax(theirs, dim=1)
        ok &= compare(name, ours, theirs)
    return ok


def collect_kinds(description, kinds):
    kinds.add(description["kind"])
    for child in description.get("children", []):
        collect_kinds(child["module"], kinds)


if __name__ == "__main__":
    sys.exit(main())
