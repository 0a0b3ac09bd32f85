#!/usr/bin/env python3
"""A Zen Engine chat client in Python over gRPC (zen.v1.Inference/Chat).

Stubs are generated from proto/ at start-up with grpc_tools into a temporary directory
(Debian: apt install python3-grpcio python3-grpc-tools), so nothing generated is kept in
the repository. To generate them once instead:

    python3 -m grpc_tools.protoc -I proto --python_out=. --grpc_python_out=. \
        proto/zen/v1/zen.proto

Usage:
    examples/python/chat.py --host 127.0.0.1:7071 "Why is the sky blue?"
    examples/python/chat.py --host 127.0.0.1:7071          # interactive, one line per turn
Options: --no-think, --show-thinking, --max-tokens N, --system TEXT, --api-key KEY.
"""
import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.environ.get("ZEN_PROTO_DIR", os.path.join(HERE, "..", "..", "proto"))


def load_stubs():
    from grpc_tools import protoc
    out = tempfile.mkdtemp(prefix="zen-stubs-")
    if protoc.main(["protoc", f"-I{PROTO}", f"--python_out={out}", f"--grpc_python_out={out}",
                    os.path.join(PROTO, "zen/v1/zen.proto")]) != 0:
        sys.exit(f"protoc failed on {PROTO}/zen/v1/zen.proto")
    sys.path.insert(0, out)
    from zen.v1 import zen_pb2, zen_pb2_grpc
    return zen_pb2, zen_pb2_grpc


def main():
    parser = argparse.ArgumentParser(description="Chat with a Zen Engine cluster over gRPC")
    parser.add_argument("question", nargs="?", help="one question; without it, read stdin")
    parser.add_argument("--host", default="127.0.0.1:7071", help="a zend's client API")
    parser.add_argument("--system", help="system message")
    parser.add_argument("--no-think", action="store_true", help="answer without thinking")
    parser.add_argument("--show-thinking", action="store_true", help="print the thinking")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--api-key", help="for a client API that listens beyond loopback")
    args = parser.parse_args()

    import grpc
    pb, pb_grpc = load_stubs()
    stub = pb_grpc.InferenceStub(grpc.insecure_channel(args.host))
    metadata = [("authorization", f"Bearer {args.api_key}")] if args.api_key else None

    model = stub.ListModels(pb.ListModelsRequest(), timeout=10, metadata=metadata).models[0]
    print(f"[{model.id}, {model.chat_format}, context {model.context_length} tokens]",
          file=sys.stderr)

    history = [pb.ChatMessage(role="system", content=args.system)] if args.system else []
    questions = [args.question] if args.question else (line.strip() for line in sys.stdin)
    for question in questions:
        if not question:
            continue
        history.append(pb.ChatMessage(role="user", content=question))
        request = pb.ChatRequest(messages=history, max_tokens=args.max_tokens,
                                 thinking=pb.THINKING_OFF if args.no_think else pb.THINKING_AUTO)
        reasoning, content, calls = "", "", []
        try:
            for piece in stub.Chat(request, timeout=600, metadata=metadata):
                if piece.reasoning and args.show_thinking:
                    print(piece.reasoning, end="", file=sys.stderr, flush=True)
                reasoning += piece.reasoning
                content += piece.content
                print(piece.content, end="", flush=True)
                for call in piece.tool_calls:
                    print(f"\n[tool call {call.name} {call.arguments_json}]", flush=True)
                    calls.append(call)
                if piece.finish_reason:
                    usage = piece.usage
                    print(f"\n[{pb.FinishReason.Name(piece.finish_reason)}, "
                          f"{usage.prompt_tokens} prompt tokens, "
                          f"{usage.completion_tokens} generated]", file=sys.stderr)
        except grpc.RpcError as e:
            print(f"\nerror: {e.code().name}: {e.details()}", file=sys.stderr)
            history.pop()
            continue
        print()
        history.append(pb.ChatMessage(role="assistant", content=content,
                                      reasoning_content=reasoning, tool_calls=calls))


if __name__ == "__main__":
    main()
