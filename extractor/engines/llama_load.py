"""Loading a GGUF into llama-cpp-python's `Llama`, with the weight layouts that are safe on this CPU.

llama.cpp moves a model's weights into "extra" CPU buffer types when the CPU has kernels for them:
repacked blocks for AVX2/AVX-512, and Intel AMX tiles on Xeons that have AMX (Sapphire Rapids and
later; `lscpu` shows `amx_int8`). On such a Xeon, llama-cpp-python 0.3.36 (ggml 0.25.3) crashes
the process with a segmentation fault in the first forward pass, for the embedded SmolLM2 in Q4_1
and in its Q8_0 copy alike: `Llama(path).create_completion("Hello")` is enough. It is llama.cpp's
open issue ggml-org/llama.cpp#20824 ("segfault in ggml_backend_amx_mul_mat", machine-dependent,
no fix). A segfault ends a whole batch with no error row, so where llama.cpp reports AMX the
weights stay in plain CPU buffers (`use_extra_bufts = false`): tinyBLAS and the plain kernels.

`Llama` builds its model parameters inside its constructor and has no argument for this one; the
constructor's call for the defaults is swapped for the time of the construction, under a lock.
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import Any

_LOADING = threading.Lock()
log = logging.getLogger(__name__)


@functools.cache
def has_amx() -> bool:
    """Whether llama.cpp was built with and runs its AMX kernels here (its system information)."""
    import llama_cpp

    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


def load_llama(path: str | Path, **kwargs: Any) -> Any:
    """`llama_cpp.Llama(path, **kwargs)`, with extra buffer types off where they crash."""
    import llama_cpp
    import llama_cpp.llama as llama_module

    if not has_amx():  # llama.cpp's extra buffer types are safe
        return llama_cpp.Llama(str(path), **kwargs)
    defaults = llama_module.llama_cpp.llama_model_default_params

    def plain_buffers() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    log.info("this CPU has AMX, whose llama.cpp kernels crash (llama.cpp#20824): weights in plain CPU buffers")
    with _LOADING:
        llama_module.llama_cpp.llama_model_default_params = plain_buffers
        try:
            return llama_cpp.Llama(str(path), **kwargs)
        finally:
            llama_module.llama_cpp.llama_model_default_params = defaults
