"""GenRL tests run torch on one thread: the models here are tiny, and on a busy 2-core machine OpenMP's
two-thread synchronisation makes them several times slower than a single thread."""
import pytest

from tests.support.torch_threads import one_torch_thread  # noqa: F401 - fixture


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):  # noqa: F811 - requests the shared fixture for every module here
    yield
