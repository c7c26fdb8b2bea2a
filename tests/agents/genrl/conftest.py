"""GenRL tests run torch on one thread: the models here are tiny, and on a busy 2-core machine OpenMP's
two-thread synchronisation makes them several times slower than a single thread."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
