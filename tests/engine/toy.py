"""A toy model and datasets for the training-loop tests (no PDNet needed).

The model has a ``backbone.backbone`` / ``backbone.decoder`` / ``head``
layout like PDNet, so the per-phase optimizer configs apply unchanged.
Every batch it sees is recorded (phase and sample ids) to check the order.
"""
import torch
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset


class ToyDataset(Dataset):
    """``num`` samples ``dict(inputs=(1,) tensor, data_samples=dict)``."""

    def __init__(self, num: int, kind: str):
        self.num = num
        self.kind = kind
        self.metainfo = dict(classes=('background', 'portrait'))

    def __len__(self):
        return self.num

    def __getitem__(self, idx):
        x = torch.tensor([(idx + 1) / self.num])
        return dict(inputs=x, data_samples=dict(kind=self.kind, idx=idx))


class ToyEncoder(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(1, 4)
        self.decoder = nn.Linear(4, 4)


class ToySegmentor(BaseModel):
    """``loss = mean((head(decoder(backbone(x))) - 2x)^2)``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.backbone = ToyEncoder()
        self.head = nn.Linear(4, 1)
        self.seen = []  # (kind, sample ids) per training batch

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs)
        y = self.head(torch.relu(self.backbone.decoder(
            self.backbone.backbone(x))))
        if mode != 'loss':
            return y
        # pseudo_collate: data_samples = dict(kind=[...], idx=[...])
        kinds = set(data_samples['kind'])
        assert len(kinds) == 1, 'a batch mixes image and video samples'
        self.seen.append((kinds.pop(), [int(i) for i in data_samples['idx']]))
        return dict(loss=((y - 2 * x)**2).mean())
