#!/usr/bin/env bash
# The main job in one command: installs what is missing, builds (Release), brings up a
# 3-node Zen Engine cluster on this machine (loopback) with mutual TLS between the nodes
# (a fresh cluster identity, one join token per joining node), shows the plan, streams the
# answer to a chat prompt through the pipeline, and shuts the cluster down.
#
# The bundled model (tests/data/qwen3-tiny-untied-q8_0.gguf) has the real Qwen3 tokenizer but
# RANDOM weights: the answer is meaningless text. To run a real model, pass a Qwen3 GGUF:
#   deploy/run-demo.sh /path/to/Qwen3-4B-Q4_K_M.gguf "Why is the sky blue?"
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-tests/data/qwen3-tiny-untied-q8_0.gguf}
prompt=${2:-"Write a haiku about a small cluster of home computers."}
jobs=${ZEN_JOBS:-2}
port=${ZEN_DEMO_PORT:-7070}  # node ports: port..port+2; client APIs: port+10..port+12

build=${ZEN_BUILD_DIR:-build}
if [ "${ZEN_DEMO_SKIP_BUILD:-0}" != 1 ]; then  # 1: use the binaries already in $build
  deploy/install-deps.sh >&2
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$jobs" --target zen zend >&2
fi

zen=$build/client/zen
zend=$build/daemon/zend
if [ ! -f "$model" ]; then
  echo "demo: no model file at $model" >&2
  exit 2
fi
# Cap the nodes' layers so that the model needs all three: the demo really splits.
layers=$("$zen" gguf info --json "$model" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["hyperparameters"]["n_layers"])')
if [ "$layers" -lt 3 ]; then
  echo "demo: the model has $layers layers; a 3-node split needs at least 3" >&2
  exit 2
fi
share=$((layers / 3))
caps=($((layers - 2 * share)) "$share" "$share")

pids=()
logdir=$(mktemp -d)
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$logdir"
}
trap cleanup EXIT

# Each node keeps its cluster identity in its own state directory. node-a's is new: it
# becomes the cluster CA. The others enroll with one-time join tokens from node-a.
state=$logdir/state
"$zend" init --state-dir "$state/a" --name node-a >&2
leader=127.0.0.1:$port
api=127.0.0.1:$((port + 10))  # node-a's client API: what `zen --host` talks to
"$zend" start --model "$model" --listen "$leader" --api "$api" --name node-a \
  --state-dir "$state/a" --expect-nodes 3 --max-layers "${caps[0]}" --http off \
  >"$logdir/a.log" 2>&1 &
pids+=($!)
names=(node-a node-b node-c)
for n in 1 2; do
  name=${names[$n]}
  token=$("$zend" token --state-dir "$state/a" --ttl 10m | tail -n 1)
  "$zend" start --model "$model" --listen "127.0.0.1:$((port + n))" \
    --api "127.0.0.1:$((port + 10 + n))" --name "$name" --state-dir "$state/$n" \
    --join "$leader" --token "$token" --max-layers "${caps[$n]}" --http off \
    >"$logdir/$n.log" 2>&1 &
  pids+=($!)
done

echo "demo: starting 3 zend nodes (mutual TLS) on 127.0.0.1:$port-$((port + 2)), client API on $api..." >&2
ready=0
for _ in $(seq 1 120); do
  if "$zen" status --host "$api" --json 2>/dev/null |
      python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("ready") else 1)' \
        2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.5
done
if [ "$ready" != 1 ]; then
  echo "demo: the cluster did not become ready; node logs:" >&2
  tail -n 20 "$logdir"/*.log >&2
  exit 1
fi
"$zen" status --host "$api" >&2
"$zen" plan --host "$api" >&2

if [ "$model" = tests/data/qwen3-tiny-untied-q8_0.gguf ]; then
  echo "demo: the bundled model has random weights; expect meaningless text." >&2
  echo "demo: run a real model with: deploy/run-demo.sh /path/to/Qwen3-4B-Q4_K_M.gguf" >&2
fi
echo "demo: prompt: $prompt" >&2
echo "demo: answer (streamed through 3 nodes):" >&2
"$zen" run --host "$api" --chat --no-think --prompt "$prompt" -n 64 --seed 7 -v
echo "demo: shutting the cluster down" >&2
