"""Loading Hugging Face checkpoints: hub ids or local directories, offline handling, clear errors.

``model`` is a hub id or a local directory written by ``save_pretrained``; the feature extractor is
read from the same place when it has one. Nothing is downloaded when ``local_files_only`` is set, or
when it is left unset and ``HF_HUB_OFFLINE`` is on. ``transformers`` is imported when something is
loaded, not when this module is imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recommender.errors import ModelNotFoundError

_TRUTHY = {"1", "true", "yes", "on"}
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or the older ``TRANSFORMERS_OFFLINE``) forbids downloads."""
    return any(os.environ.get(name, "").strip().lower() in _TRUTHY for name in _OFFLINE_VARIABLES)


def _looks_like_path(model: str) -> bool:
    # Hub ids are "name" or "owner/name"; anything else that is path-shaped must exist locally.
    if os.path.isabs(model) or model.startswith((".", "~")) or model.count("/") > 1:
        return True
    return os.sep != "/" and os.sep in model


def load_pretrained(
    loader: Any, model: str, *, local_files_only: bool | None = None, method: str = "from_pretrained", **kwargs: Any
) -> Any:
    """``loader.from_pretrained(model)`` with offline handling and a clear error when nothing is found.

    Args:
        loader: A ``transformers`` class with ``from_pretrained`` (a model, tokenizer or feature extractor).
        model: Hub id or local directory.
        local_files_only: Never download; ``None`` follows ``HF_HUB_OFFLINE``.
        method: The class method to call, e.g. ``get_config_dict`` to read a config without building it.
        kwargs: Passed on to the method.

    Raises:
        ModelNotFoundError: The directory does not exist, or the id is neither cached nor downloadable.
    """
    offline = hub_offline() if local_files_only is None else local_files_only
    path = Path(model).expanduser()
    if path.is_dir():
        model, offline = str(path), True
    elif _looks_like_path(model):
        raise ModelNotFoundError(f"{model}: no such model directory")
    try:
        return getattr(loader, method)(model, local_files_only=offline, **kwargs)
    except OSError as error:
        where = "in the local Hugging Face cache (downloads are off)" if offline else "on the hub or in its cache"
        raise ModelNotFoundError(
            f"cannot load {loader.__name__} from {model!r}: not found {where} ({error})"
        ) from error


def load_feature_extractor(model: str, default: Callable[[], Any], *, local_files_only: bool | None = None) -> Any:
    """The feature extractor saved with ``model`` (``AutoFeatureExtractor``), else ``default()``."""
    from transformers import AutoFeatureExtractor

    path = Path(model).expanduser()
    if path.is_dir() and not (path / "preprocessor_config.json").is_file():
        return default()
    try:
        return load_pretrained(AutoFeatureExtractor, model, local_files_only=local_files_only)
    except ModelNotFoundError:
        return default()
