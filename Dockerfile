# Holdfast worker and API. Same build as the scripts: npm ci, then tsc.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY common ./common
COPY workflows ./workflows
COPY activities ./activities
COPY adapters ./adapters
COPY evidence ./evidence
COPY alerts ./alerts
COPY worker ./worker
COPY api ./api
COPY cli ./cli
COPY scripts ./scripts
COPY bin ./bin
COPY console ./console
RUN mkdir -p test bench && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production HOLDFAST_LOG_FORMAT=json HOLDFAST_DATA_DIR=/var/lib/holdfast
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY package.json ./
RUN mkdir -p /var/lib/holdfast && chown node:node /var/lib/holdfast
USER node
# The compose file and deploy/ choose the role: dist/worker/main.js or dist/api/main.js.
CMD ["node", "dist/api/main.js"]
