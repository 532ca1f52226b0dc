# Berth API and worker, one image: the compiled JavaScript (`npm run build`, dist/) on the
# production dependencies, run as the unprivileged user `node`. Run `node dist/api/main.js` (the
# default) or `node dist/worker/main.js` (see docker-compose.yml); nothing runs TypeScript.

# Production dependencies, with the compilers better-sqlite3 may need when no prebuilt binary fits.
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

# The compiled server code and the web console, built with the dev dependencies (TypeScript, Vite,
# Preact) that the runtime does not need. No install scripts: nothing here loads a native module.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
ENV SCARF_ANALYTICS=false
RUN npm install --no-save --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build && node console/build.mjs --force

# Runtime: same base image as above, so the native modules built there load here.
FROM node:20-bookworm-slim
# The local provider's VMs run their cloud-init bootstrap in this container: it needs sh and curl.
RUN apt-get update \
  && apt-get install -y --no-install-recommends curl ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The code stays owned by root, read-only to `node`: the process cannot rewrite what it runs.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/console/dist ./console/dist
# All that Berth writes goes under the data dir (SQLite, secrets, local VMs, the workflow bundle
# cache). Owned by `node`, so a fresh named volume mounted here inherits that owner.
RUN mkdir -p /var/lib/berth && chown node:node /var/lib/berth
ENV BERTH_DATA_DIR=/var/lib/berth
USER node
EXPOSE 8080
CMD ["node", "dist/api/main.js"]
