"""Every model kind the library saves, read by PyTorch, predicts what actgrad does.

    roundtrip_test.py ACTGRAD MODELS_DIR PLUGIN BREAST_CANCER_CSV

For the MLP `actgrad train --save` writes, a user module kind (from a
plugin), an LSTM cell, a float64 network, one network per registered
activation, two convolutional networks that hold every convolution,
pooling, normalization, dropout, flatten and residual kind, and three
sequence networks that hold every sequence kind (embedding over integer
token columns, 2-layer bidirectional LSTM, GRU, positional embedding, post-
and pre-norm transformer encoder layers, self-attention, last step, mean
over time):
tools/actgrad_torch.py rebuilds the model in PyTorch, and its outputs on the
same rows match `actgrad predict --json` to 1e-5 relative (1e-6 absolute,
times the largest output where outputs exceed 1, for outputs near zero,
where float32's rounding of the layers before decides: a regression output
of 0.1 that is the sum of terms near 10 keeps their absolute accuracy). The other way, networks built in PyTorch and written by
actgrad_torch.save — every activation torch has a kind for, the layers of
every convolutional and sequence kind, and the user kind — predict the same
in actgrad. PyTorch's encoder layer takes its fused fast path in evaluation
mode; it agrees within the same allowance.
Each model reads the CSV file whose columns are its features. Exits 77
(skipped) without PyTorch.
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

# The convolutional and sequence kinds, by the torch module that stands for each.
LAYER_KINDS = {
    "conv1d": nn.Conv1d, "conv2d": nn.Conv2d, "conv_transpose2d": nn.ConvTranspose2d,
    "max_pool1d": nn.MaxPool1d, "max_pool2d": nn.MaxPool2d, "avg_pool1d": nn.AvgPool1d,
    "avg_pool2d": nn.AvgPool2d, "adaptive_avg_pool2d": nn.AdaptiveAvgPool2d,
    "batch_norm1d": nn.BatchNorm1d, "batch_norm2d": nn.BatchNorm2d, "layer_norm": nn.LayerNorm,
    "group_norm": nn.GroupNorm, "dropout": nn.Dropout, "flatten": nn.Flatten,
    "unflatten": nn.Unflatten, "residual": actgrad_torch.Residual,
    # The sequence kinds.
    "embedding": actgrad_torch.Embedding, "lstm": actgrad_torch.Lstm, "gru": actgrad_torch.Gru,
    "multihead_attention": actgrad_torch.SelfAttention,
    "transformer_encoder_layer": nn.TransformerEncoderLayer,
    "positional_embedding": actgrad_torch.PositionalEmbedding,
    "last_step": actgrad_torch.LastStep, "mean_over_time": actgrad_torch.MeanOverTime,
}


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


def csv_by_columns(models_dir):
    """{tuple of column names: path} of the CSV files write_models wrote."""
    files = {}
    for path in glob.glob(os.path.join(models_dir, "*.csv")):
        with open(path, newline="") as f:
            files[tuple(next(csv.reader(f)))] = path
    return files


def missing_kinds(modules):
    """The convolutional and sequence kinds no module among `modules` stands for."""
    present = {type(m) for m in modules}
    return sorted(kind for kind, torch_type in LAYER_KINDS.items()
                  if torch_type not in present)


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
    allowed = RELATIVE * theirs.abs() + ABSOLUTE * max(1.0, theirs.abs().max().item())
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
    data_files = csv_by_columns(models_dir)
    for path in sorted(glob.glob(os.path.join(models_dir, "*.safetensors"))):
        if path != mlp:
            features = tuple(actgrad_torch.load(path)[2]["features"])
            cases.append((os.path.basename(path), path, data_files[features], False))
    kinds = set()
    modules = []
    ok = True
    for name, model, data, labelled in cases:
        module, _, info = actgrad_torch.load(model)
        collect_kinds(info["architecture"], kinds)
        modules += module.modules()
        ours, _ = actgrad_predict(actgrad, model, data, plugin)
        theirs = actgrad_torch.predict(model, rows_of(data, labelled)).to(torch.float64)
        ok &= compare(name, ours, theirs)
    print("kinds covered:", ", ".join(sorted(kinds)))
    if missing_kinds(modules):
        print("no saved model holds", ", ".join(missing_kinds(modules)))
        ok = False
    ok &= torch_to_actgrad(actgrad, models_dir, data_files, plugin)
    return 0 if ok else 1


def torch_cnn():
    """Every 2-D kind, with options as torch spells them (ints for pairs)."""
    return nn.Sequential(
        nn.Unflatten(1, (2, 6, 6)),
        nn.Conv2d(2, 4, 3, padding="same", dilation=2),
        nn.BatchNorm2d(4, momentum=0.4),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),  # 6x6 -> 4x4, one by ceil mode
        nn.ConvTranspose2d(4, 6, (2, 3), stride=(2, 1), padding=(0, 1),
                           output_padding=(1, 0)),  # -> 9x4
        nn.GroupNorm(3, 6, affine=False),
        actgrad_torch.Residual(nn.Sequential(nn.Conv2d(6, 6, 3, padding=1, groups=3),
                                             nn.BatchNorm2d(6), nn.ELU())),
        nn.AvgPool2d((3, 2), stride=(2, 1), padding=(1, 0), count_include_pad=False),  # -> 5x3
        actgrad_torch.Residual(nn.Conv2d(6, 4, 1), nn.Conv2d(6, 4, 1, bias=False)),
        nn.AdaptiveAvgPool2d(2),
        nn.GroupNorm(2, 4),
        nn.LayerNorm([2, 2]),
        nn.Dropout(0.2),
        nn.Flatten(),
        nn.Linear(16, 3))


def torch_sequence():
    """Every 1-D kind: "valid", a default stride, batch norm on [N, C] without running
    statistics."""
    return nn.Sequential(
        nn.Unflatten(1, (3, 24)),
        nn.Conv1d(3, 6, 5, stride=2, padding="valid"),  # -> 10
        nn.BatchNorm1d(6),
        nn.Tanh(),
        nn.MaxPool1d(3, stride=2, ceil_mode=True),  # -> 5
        nn.Conv1d(6, 4, 3, padding="same", dilation=2, groups=2),
        nn.AvgPool1d(2, padding=1),  # stride 2 -> 3
        nn.Flatten(),
        nn.LayerNorm(12, elementwise_affine=False),
        nn.BatchNorm1d(12, track_running_stats=False),
        nn.Dropout(0.1),
        nn.Linear(12, 2))


def torch_recurrent():
    """A 2-layer bidirectional GRU (dropout between its layers) into an LSTM without
    biases, the last step into a linear head; rows as 12 steps of 6 features."""
    return nn.Sequential(
        nn.Unflatten(1, (12, 6)),
        actgrad_torch.Gru(6, 5, num_layers=2, bidirectional=True, batch_first=True, dropout=0.1),
        actgrad_torch.Lstm(10, 6, batch_first=True, bias=False),
        actgrad_torch.LastStep(),
        nn.Linear(6, 3))


def torch_transformer():
    """A projection, learned positions, a pre-norm relu encoder layer, a post-norm one with
    an exact GELU module and another eps, self-attention without biases in a residual,
    the mean over time."""
    return nn.Sequential(
        nn.Unflatten(1, (12, 6)),
        nn.Linear(6, 8),
        actgrad_torch.PositionalEmbedding(12, 8),
        nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, batch_first=True,
                                   norm_first=True),
        nn.TransformerEncoderLayer(8, 4, dim_feedforward=12, dropout=0.2, activation=nn.GELU(),
                                   layer_norm_eps=1e-6, batch_first=True),
        actgrad_torch.Residual(actgrad_torch.SelfAttention(8, 2, bias=False, batch_first=True)),
        actgrad_torch.MeanOverTime(),
        nn.Linear(8, 2))


def torch_tokens():
    """Integer tokens through an embedding with a padding row, an LSTM, the last step."""
    return nn.Sequential(
        actgrad_torch.Embedding(20, 5, padding_idx=0),
        actgrad_torch.Lstm(5, 6, batch_first=True),
        actgrad_torch.LastStep(),
        nn.Linear(6, 1))


def train_a_little(model, rows, shift=True):
    """A few SGD steps: batch norms' running statistics and every affine parameter move.

    Token rows (shift=False) are taken as they are."""
    model.train()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    for _ in range(4):
        batch = rows[torch.randperm(rows.shape[0])[:16]]
        batch = batch * 2 + 1 if shift else batch
        sgd.zero_grad()
        ((model(batch) - 1) ** 2).mean().backward()
        sgd.step()
    return model


def torch_to_actgrad(actgrad, models_dir, data_files, plugin):
    """Networks built in PyTorch, saved for actgrad, predict the same there."""
    torch.manual_seed(3)
    small = ("f0", "f1", "f2", "f3")
    images = tuple(f"p{i}" for i in range(72))
    tokens = tuple(f"t{i}" for i in range(10))
    inputs = data_files[small]
    rows = {columns: torch.tensor(rows_of(path, False), dtype=torch.float32)
            for columns, path in data_files.items()}
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
    cases = [(name, model, dict(info, features=small)) for name, model, info in cases]
    layered = [
        ("torch cnn", train_a_little(torch_cnn(), rows[images]),
         {"task": "multiclass", "output": "logits", "features": images}),
        ("torch sequence", train_a_little(torch_sequence(), rows[images]),
         {"task": "regression", "features": images}),
        ("torch recurrent", train_a_little(torch_recurrent(), rows[images]),
         {"task": "multiclass", "output": "logits", "features": images}),
        ("torch transformer", train_a_little(torch_transformer(), rows[images]),
         {"task": "regression", "features": images}),
        ("torch tokens", train_a_little(torch_tokens(), rows[tokens], shift=False),
         {"task": "binary", "output": "logits", "features": tokens}),
    ]
    missing = missing_kinds([m for _, model, _ in layered for m in model.modules()])
    if missing:
        print("no torch-built network holds", ", ".join(missing))
        return False
    cases += layered
    # Like actgrad's own writers, save refuses to replace a link.
    link = os.path.join(models_dir, "link.safetensors")
    os.symlink(inputs, link)
    try:
        actgrad_torch.save(cases[0][1], link)
        print("actgrad_torch.save replaced a symbolic link")
        return False
    except ValueError as e:
        print("refused as it should:", e)
    # actgrad pads with zeros only: another padding is refused, not dropped.
    try:
        actgrad_torch.save(nn.Conv1d(1, 1, 3, padding=1, padding_mode="reflect"),
                           os.path.join(models_dir, "reflect.safetensors"))
        print("actgrad_torch.save wrote a reflect-padded convolution")
        return False
    except ValueError as e:
        print("refused as it should:", e)
    # Sequence layers that compute what actgrad's do not are refused too: a
    # padding row that is not zero (actgrad reads zeros there), a tanh GELU in
    # an encoder layer (its fast path and actgrad compute the exact one).
    nonzero_padding = actgrad_torch.Embedding(4, 2, padding_idx=1)
    with torch.no_grad():
        nonzero_padding.weight[1] = 1
    for refused in (nonzero_padding,
                    nn.TransformerEncoderLayer(4, 2, 8, activation=nn.GELU(approximate="tanh"))):
        try:
            actgrad_torch.save(refused, os.path.join(models_dir, "refused.safetensors"))
            print(f"actgrad_torch.save wrote {type(refused).__name__}, which it should refuse")
            return False
        except ValueError as e:
            print("refused as it should:", e)
    ok = True
    for name, model, info in cases:
        model.eval()
        path = os.path.join(models_dir, "from_torch.safetensors")
        actgrad_torch.save(model, path, info)
        features = tuple(info["features"])
        ours, _ = actgrad_predict(actgrad, path, data_files[features], plugin)
        with torch.no_grad():
            theirs = model(rows[features]).to(torch.float64)
        if info.get("output") == "logits" and theirs.shape[1] == 1:
            theirs = torch.sigmoid(theirs)
            theirs = torch.cat([1 - theirs, theirs], dim=1)
        elif info.get("output") == "logits":
            theirs = torch.softmax(theirs, dim=1)
        ok &= compare(name, ours, theirs)
    return ok


def collect_kinds(description, kinds):
    kinds.add(description["kind"])
    for child in description.get("children", []):
        collect_kinds(child["module"], kinds)


if __name__ == "__main__":
    sys.exit(main())
