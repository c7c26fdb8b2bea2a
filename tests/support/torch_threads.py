"""A fixture running a test module with one torch thread: on the project's 2-core machines, with other work in
parallel, torch's default of one thread per core makes small training steps many times slower.

Use it with ``from tests.support.torch_threads import one_torch_thread`` and
``pytestmark = pytest.mark.usefixtures("one_torch_thread")``. It is module-scoped, so module-scoped fixtures
that build or train small models run on one thread too."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
