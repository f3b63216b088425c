"""Shared test set-up: small networks run fastest (and reproducibly) on one thread."""
import torch

torch.set_num_threads(1)
