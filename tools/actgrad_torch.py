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
Linear, LSTMCell as load builds it, the activations below, Conv1d, Conv2d,
ConvTranspose2d, MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool2d,
BatchNorm1d/2d, LayerNorm, GroupNorm, Dropout, Flatten, Unflatten, the
Residual below, and the sequence layers: Embedding, LSTM, GRU,
MultiheadAttention (self-attention), TransformerEncoderLayer and the
LastStep, MeanOverTime and PositionalEmbedding below) as a file
`actgrad predict` and `nn::Load` read:

    actgrad_torch.save(model, "model.safetensors",
                       {"task": "multiclass", "output": "logits", "features": names})

Kinds of your own (registered in C++ with ACTGRAD_REGISTER_MODULE_KIND)
join with a builder that makes the equivalent torch module from the saved
options and children:

    @actgrad_torch.register("residual_net")
    def build_residual_net(options, children):
        return MyResidualNet(options["width"])

torch's LSTM, GRU and MultiheadAttention return tuples; inside a Sequential
use the subclasses here that return the output sequence alone (Lstm, Gru,
SelfAttention: what `load` builds), with the same state_dict names.
Sequences in a saved network are batch-first ([B, T, F]), as actgrad's
LastStep, MeanOverTime and PositionalEmbedding read them; a network's rows
of T*F features become a sequence through an Unflatten(1, (T, F)).

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


class Residual(nn.Module):
    """actgrad's residual kind: body(x) + shortcut(x), or body(x) + x.

    torch has no such module; the children keep actgrad's names, "body" and
    "shortcut", so the state_dict names match the file's.
    """

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


class Embedding(nn.Embedding):
    """torch.nn.Embedding that also takes floating indices holding whole numbers.

    Rows reach a network as floats (CSV files, `actgrad predict`), and
    actgrad's embedding takes them so; any other value is refused, as there.
    """

    def forward(self, input):  # pylint: disable=redefined-builtin
        if input.is_floating_point():
            if not bool(((input >= 0) & (input < self.num_embeddings) &
                         (input == input.floor())).all()):
                raise ValueError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): an "
                                 "index is not a whole number in [0, num_embeddings)")
            input = input.long()
        return super().forward(input)


class Lstm(nn.LSTM):
    """torch.nn.LSTM returning the output sequence alone, as actgrad's lstm layer."""

    def forward(self, x):  # pylint: disable=arguments-differ
        return super().forward(x)[0]


class Gru(nn.GRU):
    """torch.nn.GRU returning the output sequence alone, as actgrad's gru layer."""

    def forward(self, x):  # pylint: disable=arguments-differ
        return super().forward(x)[0]


class SelfAttention(nn.MultiheadAttention):
    """torch.nn.MultiheadAttention as a layer: self-attention, the output alone."""

    def forward(self, x):  # pylint: disable=arguments-differ
        if self.in_proj_bias is not None or x.dim() != 3:
            return super().forward(x, x, x, need_weights=False)[0]
        # Without biases, torch 1.13's evaluation fast path fails (its fused
        # op needs a bias tensor); its general path serves, [L, B, E].
        t = x.transpose(0, 1) if self.batch_first else x
        out = torch.nn.functional.multi_head_attention_forward(
            t, t, t, self.embed_dim, self.num_heads, self.in_proj_weight, None, self.bias_k,
            self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight,
            self.out_proj.bias, training=self.training, need_weights=False)[0]
        return out.transpose(0, 1) if self.batch_first else out


class LastStep(nn.Module):
    """actgrad's last_step: [B, T, F] -> [B, F], the last step of each sample."""

    def forward(self, x):
        if x.dim() != 3 or x.shape[1] < 1:
            raise ValueError(f"LastStep: the input must be [B, T, F] with T >= 1, got "
                             f"{list(x.shape)}")
        return x[:, -1]


class MeanOverTime(nn.Module):
    """actgrad's mean_over_time: [B, T, F] -> [B, F], the mean over the steps."""

    def forward(self, x):
        if x.dim() != 3 or x.shape[1] < 1:
            raise ValueError(f"MeanOverTime: the input must be [B, T, F] with T >= 1, got "
                             f"{list(x.shape)}")
        return x.mean(1)


class PositionalEmbedding(nn.Module):
    """actgrad's positional_embedding: x [B, T, D] + weight[:T], weight [max_length, D]."""

    def __init__(self, max_length, embedding_dim, dtype=None):
        super().__init__()
        self.max_length = max_length
        self.embedding_dim = embedding_dim
        self.weight = nn.Parameter(torch.empty(max_length, embedding_dim, dtype=dtype))
        nn.init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x):
        if x.dim() != 3 or not 1 <= x.shape[1] <= self.max_length or \
                x.shape[2] != self.embedding_dim:
            raise ValueError(f"PositionalEmbedding: the input must be [B, T, "
                             f"{self.embedding_dim}] with 1 <= T <= {self.max_length}, got "
                             f"{list(x.shape)}")
        return x + self.weight[: x.shape[1]]


def _dtype(options):
    return torch.float64 if options.get("dtype") == "float64" else torch.float32


def _sizes(options, key, spatial, default=None):
    """A per-axis option as torch takes it: an int in 1-D, a tuple in 2-D.

    Without a default the option must be there.
    """
    values = list(options[key] if default is None else options.get(key, [default] * spatial))
    return values[0] if spatial == 1 else tuple(values)


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


def _conv(torch_type, spatial):
    def build(options, children):
        del children
        keywords = {}
        if torch_type is nn.ConvTranspose2d:
            keywords["output_padding"] = _sizes(options, "output_padding", spatial, 0)
        # A string, so that torch pads an even span as actgrad does: the
        # extra row and column at the far side.
        padding = "same" if options.get("same", False) else _sizes(options, "padding", spatial, 0)
        return torch_type(options["in_channels"], options["out_channels"],
                          _sizes(options, "kernel", spatial),
                          stride=_sizes(options, "stride", spatial, 1), padding=padding,
                          dilation=_sizes(options, "dilation", spatial, 1),
                          groups=options.get("groups", 1), bias=options.get("bias", True),
                          dtype=_dtype(options), **keywords)

    return build


def _pool_stride(options, spatial):
    # None: the window, for torch as for actgrad.
    return _sizes(options, "stride", spatial) if "stride" in options else None


def _max_pool(torch_type, spatial):
    def build(options, children):
        del children
        return torch_type(_sizes(options, "window", spatial), stride=_pool_stride(options, spatial),
                          padding=_sizes(options, "padding", spatial, 0),
                          dilation=_sizes(options, "dilation", spatial, 1),
                          ceil_mode=options.get("ceil_mode", False))

    return build


def _avg_pool(torch_type, spatial):
    def build(options, children):
        del children
        return torch_type(_sizes(options, "window", spatial), stride=_pool_stride(options, spatial),
                          padding=_sizes(options, "padding", spatial, 0),
                          ceil_mode=options.get("ceil_mode", False),
                          count_include_pad=options.get("count_include_pad", True))

    return build


def _adaptive_avg_pool2d(options, children):
    del children
    return nn.AdaptiveAvgPool2d(tuple(options["output_size"]))


def _batch_norm(torch_type):
    def build(options, children):
        del children
        return torch_type(options["num_features"], eps=options.get("eps", 1e-5),
                          momentum=options.get("momentum", 0.1),
                          affine=options.get("affine", True),
                          track_running_stats=options.get("track_running_stats", True),
                          dtype=_dtype(options))

    return build


def _layer_norm(options, children):
    del children
    return nn.LayerNorm(list(options["normalized_shape"]), eps=options.get("eps", 1e-5),
                        elementwise_affine=options.get("elementwise_affine", True),
                        dtype=_dtype(options))


def _group_norm(options, children):
    del children
    return nn.GroupNorm(options["groups"], options["channels"], eps=options.get("eps", 1e-5),
                        affine=options.get("affine", True), dtype=_dtype(options))


def _residual(options, children):
    del options
    named = dict(children)
    return Residual(named["body"], named.get("shortcut"))


def _embedding(options, children):
    del children
    padding = options.get("padding_index", -1)
    return Embedding(options["num_embeddings"], options["embedding_dim"],
                     padding_idx=None if padding < 0 else padding, dtype=_dtype(options))


def _recurrent(torch_type):
    def build(options, children):
        del children
        return torch_type(options["input_size"], options["hidden_size"],
                          num_layers=options.get("num_layers", 1),
                          bias=options.get("bias", True),
                          batch_first=options.get("batch_first", False),
                          dropout=options.get("dropout", 0.0),
                          bidirectional=options.get("bidirectional", False),
                          dtype=_dtype(options))

    return build


def _multihead_attention(options, children):
    del children
    return SelfAttention(options["embed_dim"], options.get("num_heads", 1),
                         dropout=options.get("dropout", 0.0), bias=options.get("bias", True),
                         kdim=options.get("kdim"), vdim=options.get("vdim"),
                         batch_first=options.get("batch_first", False), dtype=_dtype(options))


def _transformer_encoder_layer(options, children):
    del children
    return nn.TransformerEncoderLayer(
        options["d_model"], options.get("nhead", 1),
        dim_feedforward=options.get("dim_feedforward", 2048),
        dropout=options.get("dropout", 0.1), activation=options.get("activation", "relu"),
        layer_norm_eps=options.get("layer_norm_eps", 1e-5),
        batch_first=options.get("batch_first", False),
        norm_first=options.get("norm_first", False), dtype=_dtype(options))


def _positional_embedding(options, children):
    del children
    return PositionalEmbedding(options["max_length"], options["embedding_dim"],
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
register("conv1d")(_conv(nn.Conv1d, 1))
register("conv2d")(_conv(nn.Conv2d, 2))
register("conv_transpose2d")(_conv(nn.ConvTranspose2d, 2))
register("max_pool1d")(_max_pool(nn.MaxPool1d, 1))
register("max_pool2d")(_max_pool(nn.MaxPool2d, 2))
register("avg_pool1d")(_avg_pool(nn.AvgPool1d, 1))
register("avg_pool2d")(_avg_pool(nn.AvgPool2d, 2))
register("adaptive_avg_pool2d")(_adaptive_avg_pool2d)
register("batch_norm1d")(_batch_norm(nn.BatchNorm1d))
register("batch_norm2d")(_batch_norm(nn.BatchNorm2d))
register("layer_norm")(_layer_norm)
register("group_norm")(_group_norm)
register("dropout")(lambda options, children: nn.Dropout(options.get("p", 0.5)))
register("flatten")(lambda options, children: nn.Flatten(options.get("start", 1),
                                                         options.get("end", -1)))
register("unflatten")(lambda options, children: nn.Unflatten(options.get("dim", 1),
                                                             tuple(options["sizes"])))
register("residual", takes_children=True)(_residual)
register("embedding")(_embedding)
register("lstm")(_recurrent(Lstm))
register("gru")(_recurrent(Gru))
register("multihead_attention")(_multihead_attention)
register("transformer_encoder_layer")(_transformer_encoder_layer)
register("positional_embedding")(_positional_embedding)
register("last_step")(lambda options, children: LastStep())
register("mean_over_time")(lambda options, children: MeanOverTime())
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


def _per_axis(value, spatial):
    """torch's int-or-tuple sizes as the list actgrad saves."""
    return [int(value)] * spatial if isinstance(value, int) else [int(v) for v in value]


def _conv_options(module):
    spatial = 1 if isinstance(module, nn.Conv1d) else 2
    if module.padding_mode != "zeros":
        raise ValueError(f"{type(module).__name__} pads with {module.padding_mode!r}; "
                         "actgrad pads with zeros only")
    same = module.padding == "same"
    padding = [0] * spatial if isinstance(module.padding, str) else module.padding
    options = {"in_channels": module.in_channels, "out_channels": module.out_channels,
               "kernel": _per_axis(module.kernel_size, spatial),
               "stride": _per_axis(module.stride, spatial),
               "padding": _per_axis(padding, spatial), "same": same,
               "dilation": _per_axis(module.dilation, spatial), "groups": module.groups,
               "bias": module.bias is not None, "dtype": _dtype_name(module)}
    if isinstance(module, nn.ConvTranspose2d):
        options["output_padding"] = _per_axis(module.output_padding, spatial)
    return options


def _pool_options(module):
    spatial = 1 if isinstance(module, (nn.MaxPool1d, nn.AvgPool1d)) else 2
    if getattr(module, "return_indices", False) or getattr(module, "divisor_override", None):
        raise ValueError(f"{type(module).__name__}: actgrad pools return no indices and divide "
                         "by the window")
    options = {"window": _per_axis(module.kernel_size, spatial),
               "stride": _per_axis(module.stride or module.kernel_size, spatial),
               "padding": _per_axis(module.padding, spatial), "ceil_mode": bool(module.ceil_mode)}
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d)):
        options["dilation"] = _per_axis(module.dilation, spatial)
    else:
        options["count_include_pad"] = bool(module.count_include_pad)
    return options


def _adaptive_pool_options(module):
    size = module.output_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    if None in size:
        raise ValueError("AdaptiveAvgPool2d: actgrad needs every output size, not None "
                         "(the input's)")
    return {"output_size": [int(v) for v in size]}


def _batch_norm_options(module):
    if module.momentum is None:
        raise ValueError(f"{type(module).__name__}: actgrad has no cumulative average "
                         "(momentum=None); give a momentum")
    return {"num_features": module.num_features, "eps": float(module.eps),
            "momentum": float(module.momentum), "affine": module.affine,
            "track_running_stats": module.track_running_stats, "dtype": _dtype_name(module)}


def _unflatten_options(module):
    if isinstance(module.dim, str):
        raise ValueError("Unflatten: actgrad has no named dimensions")
    return {"dim": module.dim, "sizes": [int(v) for v in module.unflattened_size]}


def _embedding_options(module):
    if module.max_norm is not None or module.scale_grad_by_freq:
        raise ValueError("Embedding: actgrad's embedding neither renormalizes rows (max_norm) "
                         "nor scales gradients by frequency")
    if module.padding_idx is not None and bool(module.weight[module.padding_idx].any()):
        # torch reads the row; actgrad reads zeros at padding positions (the
        # same while the row is zero, as torch makes it and training keeps it).
        raise ValueError(f"Embedding: the padding row {module.padding_idx} is not zero; "
                         "actgrad reads zeros there")
    return {"num_embeddings": module.num_embeddings, "embedding_dim": module.embedding_dim,
            "padding_index": -1 if module.padding_idx is None else int(module.padding_idx),
            "dtype": _dtype_name(module)}


def _recurrent_options(module):
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTM: actgrad's lstm has no projection (proj_size)")
    return {"input_size": module.input_size, "hidden_size": module.hidden_size,
            "num_layers": module.num_layers, "bias": bool(module.bias),
            "batch_first": bool(module.batch_first), "bidirectional": bool(module.bidirectional),
            "dropout": float(module.dropout), "dtype": _dtype_name(module)}


def _attention_options(module):
    if module.bias_k is not None or module.add_zero_attn:
        raise ValueError("MultiheadAttention: actgrad has no add_bias_kv or add_zero_attn")
    options = {"embed_dim": module.embed_dim, "num_heads": module.num_heads}
    if not module._qkv_same_embed_dim:  # pylint: disable=protected-access
        options.update(kdim=module.kdim, vdim=module.vdim)
    options.update(dropout=float(module.dropout), bias=module.in_proj_bias is not None,
                   batch_first=bool(module.batch_first), dtype=_dtype_name(module))
    return options


# TransformerEncoderLayer's children as actgrad's layer registers them.
_ENCODER_CHILDREN = ("self_attn", "linear1", "dropout", "linear2", "norm1", "norm2",
                     "dropout1", "dropout2")


def _transformer_options(module):
    activation = module.activation
    if activation is torch.nn.functional.relu or isinstance(activation, nn.ReLU):
        activation = "relu"
    elif activation is torch.nn.functional.gelu or (isinstance(activation, nn.GELU) and
                                                    activation.approximate == "none"):
        activation = "gelu"
    else:
        raise ValueError(f"TransformerEncoderLayer: activation {activation!r}; actgrad's is "
                         "relu or gelu (exact)")
    norms = (module.norm1, module.norm2)
    if norms[0].eps != norms[1].eps or not all(n.elementwise_affine for n in norms):
        raise ValueError("TransformerEncoderLayer: actgrad's norms share one eps and have "
                         "weights and biases")
    if module.self_attn.in_proj_bias is None or module.linear1.bias is None:
        raise ValueError("TransformerEncoderLayer: actgrad's layer has biases")
    _attention_options(module.self_attn)
    return {"d_model": module.self_attn.embed_dim, "nhead": module.self_attn.num_heads,
            "dim_feedforward": module.linear1.out_features, "dropout": float(module.dropout.p),
            "activation": activation, "layer_norm_eps": float(module.norm1.eps),
            "batch_first": bool(module.self_attn.batch_first),
            "norm_first": bool(module.norm_first), "dtype": _dtype_name(module)}


def _positional_options(module):
    return {"max_length": module.max_length, "embedding_dim": module.embedding_dim,
            "dtype": _dtype_name(module)}


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
    (nn.Conv1d, "conv1d", _conv_options),
    (nn.Conv2d, "conv2d", _conv_options),
    (nn.ConvTranspose2d, "conv_transpose2d", _conv_options),
    (nn.MaxPool1d, "max_pool1d", _pool_options),
    (nn.MaxPool2d, "max_pool2d", _pool_options),
    (nn.AvgPool1d, "avg_pool1d", _pool_options),
    (nn.AvgPool2d, "avg_pool2d", _pool_options),
    (nn.AdaptiveAvgPool2d, "adaptive_avg_pool2d", _adaptive_pool_options),
    (nn.BatchNorm1d, "batch_norm1d", _batch_norm_options),
    (nn.BatchNorm2d, "batch_norm2d", _batch_norm_options),
    (nn.LayerNorm, "layer_norm", lambda m: {"normalized_shape": list(m.normalized_shape),
                                            "eps": float(m.eps),
                                            "elementwise_affine": m.elementwise_affine,
                                            "dtype": _dtype_name(m)}),
    (nn.GroupNorm, "group_norm", lambda m: {"groups": m.num_groups, "channels": m.num_channels,
                                            "eps": float(m.eps), "affine": m.affine,
                                            "dtype": _dtype_name(m)}),
    (nn.Dropout, "dropout", lambda m: {"p": float(m.p)}),
    (nn.Flatten, "flatten", lambda m: {"start": m.start_dim, "end": m.end_dim}),
    (nn.Unflatten, "unflatten", _unflatten_options),
]


def _dtype_name(module):
    # A norm layer without affine parameters keeps its precision in its buffers.
    tensors = [*module.parameters(), *(b for b in module.buffers() if b.is_floating_point())]
    return "float64" if tensors and tensors[0].dtype == torch.float64 else "float32"


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
    elif isinstance(module, (nn.Sequential, Residual)):
        kind = "sequential" if isinstance(module, nn.Sequential) else "residual"
        options = {}
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
    elif isinstance(module, nn.Embedding):
        kind, options = "embedding", _embedding_options(module)
    elif isinstance(module, (nn.LSTM, nn.GRU)):
        kind = "lstm" if isinstance(module, nn.LSTM) else "gru"
        options = _recurrent_options(module)
    elif isinstance(module, nn.MultiheadAttention):
        kind, options = "multihead_attention", _attention_options(module)
        children = [{"name": "out_proj", "module": describe(module.out_proj)}]
    elif isinstance(module, nn.TransformerEncoderLayer):
        # The children actgrad's layer builds itself, in its order; a torch
        # activation module (a child in torch) is an option there.
        kind, options = "transformer_encoder_layer", _transformer_options(module)
        children = [{"name": "self_attn",
                     "module": {"kind": "multihead_attention",
                                "options": _attention_options(module.self_attn),
                                "children": [{"name": "out_proj",
                                              "module": describe(module.self_attn.out_proj)}]}}]
        children += [{"name": name, "module": describe(getattr(module, name))}
                     for name in _ENCODER_CHILDREN[1:]]
    elif isinstance(module, PositionalEmbedding):
        kind, options = "positional_embedding", _positional_options(module)
    elif isinstance(module, (LastStep, MeanOverTime)):
        kind = "last_step" if isinstance(module, LastStep) else "mean_over_time"
        options = {}
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
