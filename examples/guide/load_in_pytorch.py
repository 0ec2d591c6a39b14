"""The guide's last step: the model residual_network saved, in PyTorch.

    PYTHONPATH=tools python3 examples/guide/load_in_pytorch.py model.safetensors data/digits.csv
"""

import csv
import sys

import torch
from torch import nn

# [START pytorch]
import actgrad_torch


@actgrad_torch.register("residual_block")
def residual_block(options, children):
    del children

    class ResidualBlock(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)

        def forward(self, x):
            return x + self.fc2(torch.relu(self.fc1(x)))

    return ResidualBlock(options["width"])


model, preprocess, info = actgrad_torch.load(sys.argv[1])
# [END pytorch]

with open(sys.argv[2], newline="") as f:
    rows = [[float(v) for v in row[:-1]] for row in list(csv.reader(f))[1:]]
# [START pytorch_predict]
with torch.no_grad():
    probabilities = torch.softmax(model(preprocess(torch.tensor(rows))), dim=1)
print(info["task"], info["output"], probabilities[0])
# [END pytorch_predict]
with open(sys.argv[2], newline="") as f:
    labels = torch.tensor([int(float(row[-1])) for row in list(csv.reader(f))[1:]])
accuracy = (probabilities.argmax(dim=1) == labels).double().mean().item()
print(f"accuracy on every row: {accuracy:.4f}")
sys.exit(0 if accuracy > 0.9 else 1)
