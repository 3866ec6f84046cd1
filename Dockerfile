# Production image: the web server, the workers and the one-shot migrate job all run it.
FROM node:20-slim AS static
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 STEPWISE_DATA_DIR=/data
WORKDIR /app
COPY requirements*.txt ./
COPY locks ./locks
# Exact versions from the lock of the chosen requirements file (scripts/lock.sh).
# GPU images: pass --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 (or similar);
# the GPU worker with vLLM's engine in it --build-arg REQUIREMENTS=requirements-vllm.txt, whose
# lock pins vLLM's own CUDA torch from PyPI (TORCH_INDEX=https://pypi.org/simple there).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG REQUIREMENTS=requirements.txt
RUN pip install --extra-index-url "$TORCH_INDEX" -r "locks/$REQUIREMENTS"
COPY . .
COPY --from=static /build/node_modules ./node_modules
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput
RUN useradd --create-home stepwise && mkdir -p /data && chown stepwise /data
USER stepwise
EXPOSE 8000
CMD ["gunicorn", "stepwise.wsgi:application"]
