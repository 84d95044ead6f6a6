# Undertone: CLI, ingestion workers and dashboard in one image.
#   docker build -t undertone .
#   docker run --rm -v ~/Music:/music:ro -v undertone:/data undertone undertone ingest /music
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UNDERTONE_STORE=/data

WORKDIR /opt/undertone

# CPU wheels of torch/torchaudio first (the PyPI ones bundle CUDA: gigabytes we do not use);
# `pip install .` then finds the pinned versions already satisfied. soundfile bundles libsndfile.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.11.0 torchaudio==2.11.0

COPY . .
RUN pip install . \
    && useradd --create-home --uid 10001 undertone \
    && mkdir -p /data \
    && chown undertone:undertone /data

USER undertone
VOLUME ["/data"]
EXPOSE 8501 8765
CMD ["undertone", "--help"]
