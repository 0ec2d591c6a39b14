"""torch.nn.MultiheadAttention computes what actgrad's does, gradients included.

    attention_test.py DIR

Reads each DIR/*.safetensors that tests/torch/write_attention.cc wrote: the
layer's state dict loads into torch.nn.MultiheadAttention under the same
names (q_proj_weight, k_proj_weight and v_proj_weight when the keys and
values have widths of their own), and on the same float64 inputs, masks and
probe, PyTorch's output, attention weights and every gradient equal
actgrad's to 1e-10. The layer's model file (DIR/<case>.model), rebuilt by
tools/actgrad_torch.py, holds the same weights and computes the same output,
and describing the rebuilt torch module gives back the kind and options
actgrad wrote. Exits 77 (skipped) without PyTorch.
"""

import glob
import os
import sys

try:
    import torch
    from torch import nn
except ImportError:
    print("PyTorch is not installed (Debian: python3-torch); skipping")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import actgrad_torch  # pylint: disable=wrong-import-position

TOLERANCE = 1e-10


def check(path):
    tensors, meta = actgrad_torch.read_safetensors(path)
    layer = nn.MultiheadAttention(int(meta["embed_dim"]), int(meta["num_heads"]),
                                  kdim=int(meta["kdim"]), vdim=int(meta["vdim"]),
                                  batch_first=meta["batch_first"] == "1", dtype=torch.float64)
    state = {name[len("state."):]: t for name, t in tensors.items() if name.startswith("state.")}
    layer.load_state_dict(state, strict=True)
    inputs = {name: tensors[name].clone().requires_grad_(True)
              for name in ("query", "key", "value")}
    options = {"need_weights": True,
               "average_attn_weights": meta["average_attn_weights"] == "1"}
    if "attn_mask" in tensors:
        options["attn_mask"] = tensors["attn_mask"]
        options["key_padding_mask"] = tensors["key_padding_mask"] != 0
    if meta["causal"] == "1":
        # Query i sees keys 0..i.
        time_axis = 1 if meta["batch_first"] == "1" else 0
        shape = (inputs["query"].shape[time_axis], inputs["key"].shape[time_axis])
        options["attn_mask"] = torch.triu(
            torch.full(shape, float("-inf"), dtype=torch.float64), diagonal=1)
    output, weights = layer(inputs["query"], inputs["key"], inputs["value"], **options)
    (output * tensors["probe"]).sum().backward()
    theirs = {"output": output, "weights": weights}
    theirs.update({f"grad.{name}": t.grad for name, t in inputs.items()})
    theirs.update({f"grad.state.{name}": p.grad for name, p in layer.named_parameters()})
    failures = []
    for name, expected in sorted(theirs.items()):
        ours = tensors[name]
        if ours.shape != expected.shape:
            failures.append(f"{name}: shape {list(ours.shape)}, PyTorch {list(expected.shape)}")
            continue
        worst = (ours - expected.detach()).abs().max().item()
        if not worst <= TOLERANCE:
            failures.append(f"{name}: differs by {worst:.3g}")
    # The model file, rebuilt in PyTorch, attends the same way, and reads
    # back as the description actgrad wrote.
    model_path = path[: -len(".safetensors")] + ".model"
    rebuilt, _, info = actgrad_torch.load(model_path)
    rebuilt.double()
    rebuilt_output = nn.MultiheadAttention.forward(
        rebuilt, inputs["query"], inputs["key"], inputs["value"], **options)[0]
    worst = (rebuilt_output - tensors["output"]).abs().max().item()
    if not worst <= TOLERANCE:
        failures.append(f"the rebuilt model file's output differs by {worst:.3g}")
    # The layer's own kind and options (out_proj's description holds the
    # initializers actgrad used, which torch does not know).
    described, written = actgrad_torch.describe(rebuilt), info["architecture"]
    for key in ("kind", "options"):
        if described[key] != written[key]:
            failures.append(f"{key} described as {described[key]}, written as {written[key]}")
    compared = len(theirs) + 1
    print(f"{os.path.basename(path)}: {compared} tensors compared"
          + ("" if not failures else "; " + "; ".join(failures)))
    return not failures


def main():
    paths = sorted(glob.glob(os.path.join(sys.argv[1], "*.safetensors")))
    if not paths:
        print(f"no .safetensors in {sys.argv[1]}")
        return 1
    return 0 if all([check(p) for p in paths]) else 1


if __name__ == "__main__":
    sys.exit(main())
