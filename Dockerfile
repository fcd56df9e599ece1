# kws recognition server.
#   docker build -t kws .
#   docker run --rm -p 4444:4444/udp -v "$PWD/models:/app/models" -v "$PWD/stats:/app/stats" kws serve -n NAME --host 0.0.0.0
# See README.md ("Serving from Docker") for training inside the container.

# --- build stage: compile TypeScript with the dev dependencies -------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# --ignore-scripts: the package's own `prepare` build needs the sources, copied below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
RUN npx tsc -p tsconfig.json

# --- runtime stage: production dependencies and the compiled program only --------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# tfjs-node downloads libtensorflow when it installs; where the build machine cannot reach
# that download the rebuild fails and kws runs on the WASM backend instead (same results).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && (npm rebuild @tensorflow/tfjs-node >/dev/null 2>&1 && echo "tfjs-node: installed" \
     || echo "tfjs-node: unavailable here, the image uses the WASM backend") \
 && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY bin ./bin
RUN mkdir -p models stats data predata preproc && chown -R node:node /app
USER node
VOLUME ["/app/models", "/app/stats"]
EXPOSE 4444/udp
ENTRYPOINT ["node", "bin/kws"]
# KWS_MODEL names the model to serve when `-n` is not given (a folder under /app/models).
ENV KWS_MODEL=default
CMD ["serve", "--host", "0.0.0.0", "--port", "4444"]
