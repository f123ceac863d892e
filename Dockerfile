# One image for the hub and the workers; the command picks the role (`hub`, `worker`, `start`, `migrate`).
# Build stage: all dependencies, compile src/ and migrations/ into dist/.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
# `npm ci` runs `prepare`, which builds dist/.
RUN npm ci --no-audit --no-fund

# Runtime stage: production dependencies and the compiled code only (no sources, tests or benchmarks).
FROM node:24-slim
ENV NODE_ENV=production HOST=0.0.0.0
# V8 sizes the young generation from the machine's memory (up to 128 MB on a large host): garbage that costs RSS and
# no speed to an I/O-bound process. The hub deployment adds an old-generation cap (deploy/k8s/base/hub-deployment).
ENV NODE_OPTIONS=--max-semi-space-size=16
# glibc gives each thread that allocates its own malloc arena (up to 8 per core): Node's worker threads left ~8 MB of
# a hub's RSS in them under load. Two arenas cost nothing measurable in speed (`npm run bench` runs the hub so too).
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin/switchboard.js ./bin/switchboard.js
# The embedded data dir (only used without DATABASE_URL / REDIS_URL) must be writable by the unprivileged user.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 3000
ENTRYPOINT ["node", "bin/switchboard.js"]
CMD ["hub"]
