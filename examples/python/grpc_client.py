"""Streams a generation from a Wick router (or worker) with `grpcio`, from stubs generated here
out of `proto/wick/v1/inference.proto` by `grpcio-tools`: a client no one in the project wrote.

    python examples/python/grpc_client.py 127.0.0.1:7000 "What is the capital of France?"

Prints one JSON object: the text, the token count, the finish reason and whether a receipt with
both signatures came back.
"""

import importlib
import json
import pathlib
import sys
import tempfile

from grpc_tools import protoc

import grpc

PROTO_ROOT = pathlib.Path(__file__).resolve().parents[2] / "proto"


def load_stubs():
    out = tempfile.mkdtemp(prefix="wick-stubs-")
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(PROTO_ROOT / "wick" / "v1" / "inference.proto"),
        ]
    )
    if code != 0:
        sys.exit(f"protoc failed with {code}")
    sys.path.insert(0, out)
    return importlib.import_module("wick.v1.inference_pb2"), importlib.import_module("wick.v1.inference_pb2_grpc")


def main() -> None:
    target, prompt = sys.argv[1], sys.argv[2]
    pb, pb_grpc = load_stubs()
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.InferenceStub(channel)
        request = pb.GenerateRequest(
            model="smollm2-135m-instruct",
            messages=[pb.ChatMessage(role="user", content=prompt)],
            params=pb.SamplingParams(temperature=0.0, max_tokens=32),
        )
        text, tokens, finish, receipt = [], 0, None, False
        for message in stub.Generate(request, timeout=120):
            if message.HasField("delta"):
                text.append(message.delta.text)
                tokens += len(message.delta.token_ids)
            elif message.HasField("done"):
                finish = pb.FinishReason.Name(message.done.finish_reason)
                r = message.done.receipt
                receipt = len(r.worker_signature) == 64 and len(r.router_signature) == 64
    print(json.dumps({"text": "".join(text), "tokens": tokens, "finish": finish, "receipt": receipt}))


if __name__ == "__main__":
    main()
