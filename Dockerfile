# Berth API and worker, one image. Run with `node --import tsx api/main.ts` or
# `node --import tsx worker/main.ts` (see docker-compose.yml). Source runs through tsx, so there
# is no build step; tsx is a runtime dependency.

# Dependencies, with the compilers better-sqlite3 may need when no prebuilt binary fits.
FROM node:20-bookworm-slim AS deps
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# swagger-ui-dist's dependency @scarf/scarf reports installs unless told not to.
ENV SCARF_ANALYTICS=false
# `npm install --no-save` rather than `npm ci`: see scripts/prepare.sh.
RUN npm install --omit=dev --no-save --no-audit --no-fund

# The web console, built with the dev dependencies (Vite, Preact) that the runtime does not need.
FROM node:20-bookworm-slim AS console
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-save --no-audit --no-fund --ignore-scripts
COPY console ./console
RUN node console/build.mjs --force

# Runtime: same base image as above, so the native modules built there load here.
FROM node:20-bookworm-slim
# The local provider's VMs run their cloud-init bootstrap in this container: it needs sh and curl.
RUN apt-get update \
  && apt-get install -y --no-install-recommends curl ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
COPY --from=console /app/console/dist ./console/dist
# Owned by `node`, so a fresh named volume mounted here inherits that owner.
RUN mkdir -p /var/lib/berth && chown node:node /var/lib/berth
ENV BERTH_DATA_DIR=/var/lib/berth
USER node
EXPOSE 8080
CMD ["node", "--import", "tsx", "api/main.ts"]
