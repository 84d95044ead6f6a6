"""What a dashboard visitor may reach: a password when it listens beyond localhost, and only the library roots on disk.

Streamlit has no login of its own, and every page runs with the server's file permissions. So the
operator lists the folders the dashboard may ingest and play (``UNDERTONE_LIBRARY_ROOTS``), every path
a visitor types is resolved (symlinks, ``..``) before it is checked against them, and a dashboard that
has a ``dashboard_token`` asks for it before any page runs.
"""

from __future__ import annotations

import hmac
from pathlib import Path

import streamlit as st

from ingest.sources import SourceError, iter_source
from recommender.errors import UsageError
from recommender.settings import Settings

NO_ROOTS = (
    "Ingesting from the server's disk is turned off: the operator lists the folders the dashboard may read "
    "in UNDERTONE_LIBRARY_ROOTS (see docs/security.md)."
)


def inside_roots(path: str | Path, roots: tuple[Path, ...]) -> Path | None:
    """``path`` resolved (symlinks and ``..`` followed) if it lies inside one of ``roots``, else None."""
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop, an unreadable folder
        return None
    return resolved if any(resolved.is_relative_to(root) for root in roots) else None


def library_path(text: str, settings: Settings) -> Path:
    """The folder or manifest a visitor named, once it is known to lie inside the library roots.

    Every file a manifest lists must lie inside them too, so a manifest cannot reach around a root.

    Raises:
        UsageError: Nothing given, no roots configured, or a path outside them (or missing: the two
            are reported alike, so the box cannot probe which server paths exist).
    """
    if not text.strip():
        raise UsageError("Give the path of a folder of audio files or of a manifest (.csv, .tsv, .jsonl).")
    roots = settings.library_roots
    if not roots:
        raise UsageError(NO_ROOTS)
    path = inside_roots(text.strip(), roots)
    if path is None or not path.exists():
        allowed = ", ".join(str(root) for root in roots)
        raise UsageError(f"{text.strip()} is not a folder or manifest inside the music library ({allowed}).")
    try:
        outside = [item.path for item in iter_source(path) if item.problem is None and inside_roots(item.path, roots) is None]
    except SourceError as error:
        raise UsageError(str(error)) from error
    if outside:
        more = f" and {len(outside) - 1} more" if len(outside) > 1 else ""
        raise UsageError(f"{path} lists files outside the music library: {outside[0]}{more}.")
    return path


def playable(path: str | Path | None, settings: Settings) -> Path | None:
    """The resolved audio file the dashboard may stream to a browser, or None (outside the library roots)."""
    if not path or not settings.library_roots:
        return None
    resolved = inside_roots(path, settings.library_roots)
    return resolved if resolved is not None and resolved.is_file() else None


def require_login(settings: Settings) -> None:
    """With a ``dashboard_token``, show a password form and stop the page until this session gave it."""
    if settings.dashboard_token is None or st.session_state.get("signed_in"):
        return
    expected = settings.dashboard_token.get_secret_value().encode()
    st.title("Undertone")
    with st.form("sign_in"):
        given = st.text_input("Dashboard password", type="password", help="The operator set it in UNDERTONE_DASHBOARD_TOKEN.")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        # Constant-time comparison: response time must not tell how much of a guess was right.
        if hmac.compare_digest(given.encode(), expected):
            st.session_state.signed_in = True
            st.rerun()
        st.error("Wrong password.")
    st.stop()
