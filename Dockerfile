# lockstep's command line in a container (used by docker-compose.yml for the orchestrator and the example worker).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY . .
# npm ci builds dist/ (the prepare script); then drop the dev dependencies.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/machines ./machines
COPY --from=build /app/schemas ./schemas
ENTRYPOINT ["node", "/app/bin/lockstep.js"]
CMD ["--help"]
