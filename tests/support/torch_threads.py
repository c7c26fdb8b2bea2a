"""A fixture running a test with one torch thread: on the project's 2-core machines, with other work in
parallel, torch's default of one thread per core makes small training steps many times slower."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
