"""The Python client of ``undertone serve``: the calls of :class:`~recommender.search.Recommender`, over HTTP.

    from recommender import Client

    with Client("http://127.0.0.1:8765") as client:
        response = client.search(speech="clip.wav", k=10)   # the same SearchResponse as Recommender.search
        for result in response.results:
            print(result.score, result.path, result.why)

Errors come back as the exception classes the server raised (``UnknownEmotionError``, ``AudioError``
subclasses, ``EmptyCatalogError`` ...); a server that cannot be reached raises :class:`ServiceError`.
``Client.discover(settings)`` finds the server owning a store (see :mod:`recommender.service`).
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import httpx
import numpy as np

from recommender import errors
from recommender.model import Analysis
from recommender.search import Result, SearchResponse, SpeechInput
from recommender.service import find_server
from recommender.settings import Settings
from recommender.store.base import TrackPoint, Where

if TYPE_CHECKING:
    from recommender.timeline import Timeline

class Client:
    """Talks to one ``undertone serve``; safe to share between threads.

    Args:
        url: Base URL (default: ``UNDERTONE_URL`` or the server owning the configured store).
        token: Bearer token (default: ``UNDERTONE_TOKEN``, or the one the local server recorded).
        timeout: Seconds to wait for an answer (a long timeline takes a while).

    Raises:
        ServiceError: No URL given and no running server found.
    """

    def __init__(self, url: str | None = None, *, token: str | None = None, timeout: float = 300.0) -> None:
        if url is None:
            found = find_server(Settings.load())
            if found is None:
                raise errors.ServiceError("no undertone server found: give its URL, set UNDERTONE_URL, or start `undertone serve`")
            url, token = found.url, token or found.token
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self.store = RemoteStore(self)

    @classmethod
    def discover(cls, settings: Settings, *, timeout: float = 300.0) -> Client | None:
        """A client of the server ``settings`` point at (``url``, or the store's owner), or None when none runs."""
        found = find_server(settings)
        return cls(found.url, token=found.token, timeout=timeout) if found else None

    # -- queries (the Recommender's call shapes) ------------------------------------------------------

    def search(
        self,
        speech: SpeechInput | None = None,
        *,
        text: str | None = None,
        emotion: str | None = None,
        va: Sequence[float] | None = None,
        k: int = 10,
        where: Where | None = None,
        rerank: float | None = None,
        per_artist: int | None = None,
        sample_rate: int | None = None,
        visual_weight: float | None = None,
    ) -> SearchResponse:
        """Tracks whose emotion matches the query, best first (see ``Recommender.search``)."""
        fields = _query_fields(text=text, emotion=emotion, va=va)
        fields.update(_drop_none(
            k=k, where=json.dumps(where) if where else None, rerank=rerank, per_artist=per_artist, visual_weight=visual_weight,
        ))
        record = self._post_query("/search", speech, fields, sample_rate)
        return SearchResponse(_analysis(record), [Result.from_dict(item) for item in record["results"]])

    def similar(
        self,
        like: str | os.PathLike | bytes | Sequence[str | os.PathLike | bytes],
        unlike: str | os.PathLike | bytes | Sequence[str | os.PathLike | bytes] = (),
        *,
        k: int = 10,
        where: Where | None = None,
        rerank: float | None = None,
        per_artist: int | None = None,
    ) -> SearchResponse:
        """More like this (see ``Recommender.similar``): track ids are sent as ids, files are uploaded."""
        data: dict[str, Any] = {"like": [], "unlike": [], **_drop_none(k=k, where=json.dumps(where) if where else None, rerank=rerank, per_artist=per_artist)}
        files: list[tuple[str, tuple[str, BinaryIO, str]]] = []
        try:
            for field, examples in (("like", like), ("unlike", unlike)):
                for example in [examples] if isinstance(examples, (str, os.PathLike, bytes)) else examples:
                    if isinstance(example, bytes) or Path(example).is_file():
                        name, stream, _ = _upload(example, None)
                        files.append((f"{field}_file", (name, stream, "application/octet-stream")))
                    else:
                        data[field].append(str(example))
            record = self._call("POST", "/similar", data=data, files=files or None)
        finally:
            for _, (_, stream, _) in files:
                stream.close()
        return SearchResponse(_analysis(record), [Result.from_dict(item) for item in record["results"]])

    def analyze(self, speech: SpeechInput, *, sample_rate: int | None = None, transcript: str | None = None) -> Analysis:
        """The emotion heard in a speech clip."""
        return _analysis(self._post_query("/analyze", speech, _drop_none(text=transcript), sample_rate))

    def query_analysis(
        self,
        speech: SpeechInput | None = None,
        *,
        text: str | None = None,
        emotion: str | None = None,
        va: Sequence[float] | None = None,
        sample_rate: int | None = None,
    ) -> Analysis:
        """Analyse exactly one kind of query (speech may come with ``text`` as its transcript)."""
        return _analysis(self._post_query("/analyze", speech, _query_fields(text=text, emotion=emotion, va=va), sample_rate))

    def recommend(
        self,
        analysis: Analysis,
        *,
        k: int = 10,
        where: Where | None = None,
        rerank: float | None = None,
        per_artist: int | None = None,
        exclude: Iterable[str] = (),
        query_kind: str = "query",
    ) -> list[Result]:
        """Rank the catalog for an already analysed query."""
        body = {
            "embedding": np.asarray(analysis.embedding, dtype=float).tolist(), "valence": analysis.valence, "arousal": analysis.arousal,
            "emotions": dict(analysis.emotions), "k": k, "where": where, "rerank": rerank, "per_artist": per_artist,
            "exclude": list(exclude), "query_kind": query_kind,
        }
        return [Result.from_dict(item) for item in self._call("POST", "/recommend", json=body)["results"]]

    def timeline(self, source: str | os.PathLike, **options: Any) -> Timeline:
        """The emotion timeline and cue sheet of a long recording (what ``build_timeline`` returns).

        Args:
            source: The recording, uploaded to the server.
            **options: ``segment_seconds``, ``min_cue_seconds``, ``smoothing_seconds``, ``change_threshold``,
                ``alternatives``, ``snap_seconds``, ``visual_weight``, ``where``, ``rerank``, ``per_artist``.
        """
        if "where" in options and options["where"] is not None:
            options["where"] = json.dumps(options["where"])
        from recommender.timeline import Timeline

        record = self._post_query("/timeline", source, _drop_none(**options), None)
        return Timeline.from_dict({**record, "source": str(source)})

    # -- catalog and ingestion ----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Server status: model fingerprint, tracks in the store, running ingestion."""
        return self._call("GET", "/health")

    def catalog(self, limit: int = 20) -> dict[str, Any]:
        """Counts, a track listing and recent failures (``undertone catalog --json``)."""
        return self._call("GET", "/catalog", params={"limit": limit})

    def track(self, track_id: str) -> TrackPoint:
        """One stored track (raises ``NotFoundError``)."""
        record = self._call("GET", f"/tracks/{track_id}")
        return TrackPoint(record["id"], np.asarray(record.get("vector") or [], dtype=np.float32), record["payload"])

    def ingest(self, source: str | os.PathLike) -> dict[str, Any]:
        """Start ingesting a folder, manifest or file *the server can read*; returns the job's status."""
        return self._call("POST", "/jobs", json={"source": str(Path(source).expanduser().absolute())})

    def job(self, job_id: str, failures: int = 100) -> dict[str, Any]:
        """Progress of one ingestion job (``undertone catalog --job``)."""
        return self._call("GET", f"/jobs/{job_id}", params={"failures": failures})

    def jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        """Recent ingestion jobs, newest first."""
        return self._call("GET", "/jobs", params={"limit": limit})

    def wait_for_job(self, job_id: str, progress: Callable[[dict[str, Any]], None] | None = None, poll: float = 0.5) -> dict[str, Any]:
        """Poll a job until it is done or failed (``progress`` gets every status seen)."""
        while True:
            status = self.job(job_id)
            if progress:
                progress(status)
            if status["state"] in ("done", "failed"):
                return status
            time.sleep(poll)

    def reconcile(self, repair: bool = False) -> dict[str, Any]:
        """Compare (and with ``repair`` fix) the vector store against the SQL catalog."""
        return self._call("POST", "/catalog/reconcile", json={"repair": repair})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------------------------

    def _post_query(self, route: str, speech: SpeechInput | None, fields: dict[str, Any], sample_rate: int | None) -> Any:
        data = {key: str(value) for key, value in fields.items()}
        if speech is None:
            return self._call("POST", route, data=data)
        name, content, owned = _upload(speech, sample_rate)
        try:
            return self._call("POST", route, data=data, files={"speech": (name, content, "application/octet-stream")})
        finally:
            if owned:
                content.close()

    def _call(self, method: str, route: str, **request: Any) -> Any:
        try:
            response = self._http.request(method, route, **request)
        except httpx.TransportError as error:
            raise errors.ServiceError(f"undertone server at {self.url} cannot be reached ({type(error).__name__}: {error})") from None
        if response.status_code >= 400:
            raise _error_from(response)
        return response.json()


class RemoteStore:
    """The read side of the server's vector store, shaped like :class:`~recommender.store.VectorStore`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def dim(self) -> int | None:
        return self._client.health().get("dim")

    def count(self, where: Where | None = None) -> int:
        params = {"where": json.dumps(where)} if where else {}
        return int(self._client._call("GET", "/tracks/count", params=params)["count"])

    def scroll(self, where: Where | None = None, limit: int = 1000, offset: str | None = None) -> tuple[list[TrackPoint], str | None]:
        params = _drop_none(limit=limit, offset=offset, where=json.dumps(where) if where else None)
        page = self._client._call("GET", "/tracks", params=params)
        points = [TrackPoint(item["id"], np.zeros(0, np.float32), item["payload"]) for item in page["tracks"]]
        return points, page["next"]

    def iter_points(self, where: Where | None = None, page_size: int = 1000) -> Iterator[TrackPoint]:
        """Every point passing ``where`` (payloads only: vectors stay on the server)."""
        offset: str | None = None
        while True:
            points, offset = self.scroll(where, limit=page_size, offset=offset)
            yield from points
            if offset is None:
                return


def _query_fields(*, text: str | None, emotion: str | None, va: Sequence[float] | None) -> dict[str, Any]:
    return _drop_none(text=text, emotion=emotion, va=",".join(str(float(x)) for x in va) if va is not None else None)


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _upload(speech: SpeechInput, sample_rate: int | None) -> tuple[str, BinaryIO, bool]:
    """(file name, stream, whether we opened it): files are streamed, never read into memory here."""
    if isinstance(speech, np.ndarray):
        import soundfile as sf

        buffer = io.BytesIO()
        sf.write(buffer, np.asarray(speech, dtype=np.float32), sample_rate or 16000, format="WAV", subtype="FLOAT")
        buffer.seek(0)
        return "waveform.wav", buffer, True
    if isinstance(speech, (bytes, bytearray)):
        return "speech", io.BytesIO(bytes(speech)), True
    if isinstance(speech, (str, os.PathLike)):
        path = Path(speech)
        try:
            return path.name, open(path, "rb"), True
        except FileNotFoundError:
            raise errors.AudioNotFoundError("no such file", path) from None
        except OSError as error:
            raise errors.UnreadableAudioError(f"cannot be read ({error.strerror or error})", path) from None
    return Path(getattr(speech, "name", None) or "speech").name, speech, False


def _analysis(record: dict[str, Any]) -> Analysis:
    return Analysis(
        embedding=np.asarray(record.get("embedding") or [], dtype=np.float32),
        valence=float(record["valence"]),
        arousal=float(record["arousal"]),
        emotions={str(label): float(p) for label, p in record["emotion"].items()},
        duration=record.get("duration"),
    )


def _error_from(response: httpx.Response) -> errors.UndertoneError:
    """The exception the server raised, rebuilt from its JSON error (the nearest class this side knows)."""
    try:
        body = response.json()
        message, types = str(body["error"]), list(body.get("types") or [])
    except (ValueError, KeyError, TypeError):
        message, types = f"HTTP {response.status_code}: {response.text[:200]}", []
    if response.status_code == 401:
        return errors.AuthenticationError(message)
    if response.status_code == 413:
        return errors.UploadTooLargeError(message)
    for name in types:
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, errors.UndertoneError):
            error = cls(message)
            if body.get("reason") and isinstance(error, errors.AudioError):
                error.reason = body["reason"]
            return error
    return errors.ServiceError(f"undertone server: {message}")
