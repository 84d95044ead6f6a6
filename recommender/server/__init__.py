"""``undertone serve``: one process owns the store and the model and answers everyone over HTTP.

An application layer beside the command line (the core never imports it): :func:`create_app` builds
the FastAPI app, :mod:`.errors` turns the ``UndertoneError`` hierarchy into 4xx JSON and guards
requests (token, upload size), :mod:`.jobs` runs ingestion in the background, :mod:`.routes` holds
the endpoints. The Python client is :class:`recommender.client.Client`.
"""

from recommender.server.app import create_app

__all__ = ["create_app"]
