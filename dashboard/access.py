"""What a dashboard visitor may reach: a password when it listens beyond localhost, and only the library roots on disk.

Streamlit has no login of its own, and every page runs with the server's file permissions. So the
operator lists the folders the dashboard may ingest and play (``UNDERTONE_LIBRARY_ROOTS``), every path
a visitor types is resolved (symlinks, ``..``) before it is checked against them, and a dashboard that
has a ``dashboard_token`` asks for it before any page runs.
"""

from __future__ import annotations

import hmac
import re
import uuid
from pathlib import Path

import streamlit as st

from ingest.sources import DECODABLE_EXTENSIONS, SourceError, iter_source
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


def uploads_dir(settings: Settings) -> Path:
    """Where tracks uploaded through the dashboard are kept (inside the store: always a library root)."""
    return (settings.store / "uploads").resolve()


def save_uploads(files: list[tuple[str, bytes]], settings: Settings) -> Path:
    """Write uploaded ``(name, content)`` audio files to a new folder under :func:`uploads_dir`; return it.

    Only the base name of each upload is kept, reduced to safe characters: a name cannot steer the
    file elsewhere on the server.

    Raises:
        UsageError: No file, or a file that is not audio by its extension.
    """
    if not files:
        raise UsageError("Choose one or more audio files to upload.")
    folder = uploads_dir(settings) / uuid.uuid4().hex[:12]
    names = []
    for name, _ in files:
        safe = re.sub(r"[^\w.\- ]", "_", Path(name).name).strip(". ") or "track"
        if Path(safe).suffix.lower().lstrip(".") not in DECODABLE_EXTENSIONS:
            raise UsageError(f"{name} is not an audio file this server can read ({', '.join(sorted(DECODABLE_EXTENSIONS))}).")
        names.append(safe)
    folder.mkdir(parents=True)
    for number, (safe, (_, content)) in enumerate(zip(names, files, strict=True)):
        (folder / f"{number:03d}-{safe}").write_bytes(content)
    return folder


def playable(path: str | Path | None, settings: Settings) -> Path | None:
    """The resolved audio file the dashboard may stream to a browser (inside the library roots or the uploads), or None."""
    if not path:
        return None
    resolved = inside_roots(path, (*settings.library_roots, uploads_dir(settings)))
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
