#!/usr/bin/env bash
# The main job in one command: installs what is missing, builds (Release) and answers a chat
# prompt with the bundled model on this machine.
#
# The bundled model (tests/data/qwen3-tiny-q8_0.gguf) has the real Qwen3 tokenizer but
# RANDOM weights: the answer is meaningless text. To run a real model, pass a Qwen3 GGUF:
#   deploy/run-demo.sh /path/to/Qwen3-4B-Q4_K_M.gguf "Why is the sky blue?"
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-tests/data/qwen3-tiny-q8_0.gguf}
prompt=${2:-"Write a haiku about a small cluster of home computers."}
jobs=${ZEN_JOBS:-2}

deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" --target zen

if [ "$model" = tests/data/qwen3-tiny-q8_0.gguf ]; then
  echo "demo: the bundled model has random weights; expect meaningless text." >&2
  echo "demo: run a real model with: deploy/run-demo.sh /path/to/Qwen3-4B-Q4_K_M.gguf" >&2
fi
echo "demo: prompt: $prompt" >&2
build/client/zen run --model "$model" --chat --no-think --prompt "$prompt" -n 64 --seed 7
echo >&2
