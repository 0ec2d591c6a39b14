"""Models saved by actgrad, as PyTorch modules.

An actgrad model file (`actgrad train --save`, `nn::Save`) is a safetensors
file whose metadata key "actgrad" describes the network (kinds, options,
children) and the preprocessing. `load` rebuilds the network with
torch.nn modules under the same state_dict names, loads the weights, and
returns the preprocessing as a function:

    import actgrad_torch
    model, preprocess, info = actgrad_torch.load("model.safetensors")
    probabilities = model(preprocess(torch.tensor(rows, dtype=torch.float32)))

The other way, `save` writes a torch network of the same layers (Sequential,
Linear, LSTMCell as load builds it, the activations below) as a file
`actgrad predict` and `nn::Load` read:

    actgrad_torch.save(model, "model.safetensors",
                       {"task": "multiclass", "output": "logits", "features": names})

Kinds of your own (registered in C++ with ACTGRAD_REGISTER_MODULE_KIND)
join with a builder that makes the equivalent torch module from the saved
options and children:

    @actgrad_torch.register("residual")
    def build_residual(options, children):
        return MyResidual(options["width"])

Needs only PyTorch (Debian's python3-torch); the safetensors layout is read
here, with the same checks on sizes that actgrad makes.
"""

import json
import os
import struct

import torch
from torch import nn

_MAX_HEADER_BYTES = 100 * 1024 * 1024
_DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
_BUILDERS = {}


_CONTAINERS = set()


def register(kind, takes_children=False):
    """Decorator: `builder(options, children)` makes modules of `kind`.

    For containers (takes_children, like Sequential) `children` is the list
    of (name, torch module) built from the saved description; any other kind
    builds its own children under the saved names, and gets the children's
    saved descriptions for reference.
    """

    def add(builder):
        _BUILDERS[kind] = builder
        if takes_children:
            _CONTAINERS.add(kind)
        return builder

    return add


def read_safetensors(path):
    """Returns ({name: tensor}, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: truncated: fewer than 8 bytes")
    (length,) = struct.unpack("<Q", blob[:8])
    if length > min(len(blob) - 8, _MAX_HEADER_BYTES):
        raise ValueError(f"{path}: header length {length} exceeds the file or 100 MB")
    header = json.loads(blob[8 : 8 + length])
    metadata = header.pop("__metadata__", None) or {}
    data = memoryview(blob)[8 + length :]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= len(data):
            raise ValueError(f"{path}: tensor {name!r} lies outside the data")
        dtype = _DTYPES[entry["dtype"]]
        values = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype)
        tensors[name] = values.reshape(entry["shape"]).clone()
    return tensors, metadata


class _LstmCellOutput(nn.LSTMCell):
    """actgrad's LstmCell as a layer: one step from the zero state, h only."""

    def forward(self, x):  # pylint: disable=arguments-renamed
        return super().forward(x)[0]


class _Swish(nn.Module):
    def __init__(self, beta):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)


def _dtype(options):
    return torch.float64 if options.get("dtype") == "float64" else torch.float32


def _sequential(options, children):
    del options
    return nn.Sequential(*[module for _, module in children])


def _linear(options, children):
    del children
    return nn.Linear(options["in"], options["out"], bias=options.get("bias", True),
                     dtype=_dtype(options))


def _lstm_cell(options, children):
    del children
    return _LstmCellOutput(options["input"], options["hidden"], bias=options.get("bias", True),
                           dtype=_dtype(options))


# Activation ops: the torch module computing the same function.
_ACTIVATIONS = {
    "identity": lambda o: nn.Identity(),
    "sigmoid": lambda o: nn.Sigmoid(),
    "tanh": lambda o: nn.Tanh(),
    "relu": lambda o: nn.ReLU(),
    "leaky_relu": lambda o: nn.LeakyReLU(o.get("alpha", 0.01)),
    "elu": lambda o: nn.ELU(o.get("alpha", 1.0)),
    "selu": lambda o: nn.SELU(),
    "gelu": lambda o: nn.GELU(),
    "gelu_tanh": lambda o: nn.GELU(approximate="tanh"),
    # actgrad's softplus has no linear cut-off; 1e30 keeps torch's out of the way.
    "softplus": lambda o: nn.Softplus(o.get("beta", 1.0), threshold=1e30),
    "silu": lambda o: nn.SiLU(),
    "swish": lambda o: _Swish(o.get("beta", 1.0)),
    "mish": lambda o: nn.Mish(),
    "hardtanh": lambda o: nn.Hardtanh(o.get("min_val", -1.0), o.get("max_val", 1.0)),
    "hardsigmoid": lambda o: nn.Hardsigmoid(),
    "softsign": lambda o: nn.Softsign(),
    "softmax": lambda o: nn.Softmax(dim=o.get("axis", -1)),
    "log_softmax": lambda o: nn.LogSoftmax(dim=o.get("axis", -1)),
}

register("sequential", takes_children=True)(_sequential)
register("linear")(_linear)
register("lstm_cell")(_lstm_cell)
for _kind, _make in _ACTIVATIONS.items():
    register(_kind)(lambda options, children, make=_make: make(options))


def build(description):
    """The torch module a saved architecture describes (without weights)."""
    kind = description["kind"]
    if kind not in _BUILDERS:
        raise KeyError(
            f"no builder for module kind {kind!r}; register one with "
            f"@actgrad_torch.register({kind!r})")
    children = description.get("children", [])
    if kind in _CONTAINERS:
        children = [(child["name"], build(child["module"])) for child in children]
    return _BUILDERS[kind](description.get("options", {}), children)


# torch module types back to actgrad kinds, with their options.
_KINDS_OF_TORCH = [
    (nn.Identity, "identity", lambda m: {}),
    (nn.Sigmoid, "sigmoid", lambda m: {}),
    (nn.Tanh, "tanh", lambda m: {}),
    (nn.ReLU, "relu", lambda m: {"grad_at_zero": 0.0}),
    (nn.LeakyReLU, "leaky_relu", lambda m: {"alpha": float(m.negative_slope)}),
    (nn.ELU, "elu", lambda m: {"alpha": float(m.alpha)}),
    (nn.SELU, "selu", lambda m: {}),
    (nn.GELU, None, lambda m: {}),  # gelu or gelu_tanh, by `approximate`
    (nn.Softplus, "softplus", lambda m: {"beta": float(m.beta)}),
    (nn.SiLU, "silu", lambda m: {}),
    (_Swish, "swish", lambda m: {"beta": float(m.beta)}),
    (nn.Mish, "mish", lambda m: {}),
    (nn.Hardtanh, "hardtanh", lambda m: {"min_val": float(m.min_val), "max_val": float(m.max_val)}),
    (nn.Hardsigmoid, "hardsigmoid", lambda m: {}),
    (nn.Softsign, "softsign", lambda m: {}),
    (nn.Softmax, "softmax", lambda m: {"axis": -1 if m.dim is None else int(m.dim)}),
    (nn.LogSoftmax, "log_softmax", lambda m: {"axis": -1 if m.dim is None else int(m.dim)}),
]


def _dtype_name(module):
    first = next(module.parameters(), None)
    return "float64" if first is not None and first.dtype == torch.float64 else "float32"


def describe(module):
    """The actgrad description of a torch module (kind, options, children).

    A module of one's own sets `actgrad_kind` and `actgrad_options` (the
    options its C++ kind's FromConfig reads); its children are described
    under their names.
    """
    children = []
    if hasattr(module, "actgrad_kind"):
        kind, options = module.actgrad_kind, dict(module.actgrad_options)
        children = [{"name": name, "module": describe(child)}
                    for name, child in module.named_children()]
    elif isinstance(module, nn.Sequential):
        kind, options = "sequential", {}
        children = [{"name": name, "module": describe(child)}
                    for name, child in module.named_children()]
    elif isinstance(module, nn.Linear):
        kind = "linear"
        options = {"in": module.in_features, "out": module.out_features,
                   "bias": module.bias is not None, "dtype": _dtype_name(module)}
    elif isinstance(module, _LstmCellOutput):
        kind = "lstm_cell"
        options = {"input": module.input_size, "hidden": module.hidden_size,
                   "bias": module.bias, "dtype": _dtype_name(module)}
    else:
        for torch_type, name, options_of in _KINDS_OF_TORCH:
            if type(module) is torch_type:  # pylint: disable=unidiomatic-typecheck
                kind = name or ("gelu_tanh" if module.approximate == "tanh" else "gelu")
                options = options_of(module)
                break
        else:
            raise TypeError(f"{type(module).__name__} has no actgrad kind; give it actgrad_kind "
                            "and actgrad_options")
    return {"kind": kind, "options": options, "children": children}


def write_safetensors(path, tensors, metadata):
    """Writes {name: tensor} and string metadata as a safetensors file.

    As actgrad does: into a temporary file renamed over `path`, and never
    where a symbolic link, a directory or a device is.
    """
    if os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path)):
        raise ValueError(f"{path}: exists and is not a regular file; refusing to replace it")
    names = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with open(temporary, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for blob in blobs:
                f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def save(module, path, info=None):
    """Writes `module` as an actgrad model file.

    `info` holds what `load` returns as info: task ("binary", "multiclass",
    "regression" or None), output ("values", "probabilities", "logits"),
    features, target, labels and scaler ({"scaling", "scale", "shift"}).
    """
    info = dict(info or {})
    description = {
        "format": "actgrad.model.v1",
        "architecture": describe(module),
        "task": info.get("task"),
        "output": info.get("output", "values"),
        "features": list(info.get("features", [])),
        "target": info.get("target", ""),
        "labels": [str(label) for label in info.get("labels", [])],
        "scaler": info.get("scaler"),
    }
    write_safetensors(path, module.state_dict(), {"actgrad": json.dumps(description)})


def load(path):
    """Returns (module, preprocess, info) for an actgrad model file.

    The module holds the saved weights and is in evaluation mode; preprocess
    maps raw feature rows to the module's inputs (the saved scaler); info is
    the saved description (task, output, features, target, labels, scaler).
    """
    tensors, metadata = read_safetensors(path)
    if "actgrad" not in metadata:
        raise ValueError(f"{path}: no actgrad description in the metadata")
    info = json.loads(metadata["actgrad"])
    if info.get("format") != "actgrad.model.v1":
        raise ValueError(f"{path}: format {info.get('format')!r} is not actgrad.model.v1")
    module = build(info["architecture"])
    module.load_state_dict(tensors, strict=True)
    module.eval()
    scaler = info.get("scaler")

    def preprocess(x):
        if scaler is None:
            return x
        scale = torch.tensor(scaler["scale"], dtype=torch.float64)
        shift = torch.tensor(scaler["shift"], dtype=torch.float64)
        return (x.to(torch.float64) * scale + shift).to(x.dtype)

    return module, preprocess, info


def predict(path, rows):
    """Class probabilities (or values) for raw feature rows, as actgrad predict gives them."""
    module, preprocess, info = load(path)
    first = next(module.parameters(), None)
    dtype = first.dtype if first is not None else torch.float32
    with torch.no_grad():
        out = module(preprocess(torch.as_tensor(rows, dtype=dtype)))
        classification = info.get("task") in ("binary", "multiclass") and \
            info.get("output") != "values"
        if not classification:
            return out
        if info.get("output") == "logits":
            out = torch.sigmoid(out) if out.shape[1] == 1 else torch.softmax(out, dim=1)
        if out.shape[1] == 1:
            out = torch.cat([1 - out, out], dim=1)
        return out
