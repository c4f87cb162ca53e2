#!/bin/sh
# Regenerates src/io/onnx/onnx_pb.ts (protobuf-es binding) from src/io/onnx/onnx.proto, which is
# ONNX's own schema as the `onnx` Python package installs it (copy a newer one over it to update).
# Needs only npm: buf and protoc-gen-es are fetched at these pinned versions into a temporary folder.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/proto"
cp "$root/src/io/onnx/onnx.proto" "$tmp/proto/"
printf 'version: v2\nmodules:\n  - path: proto\n' > "$tmp/buf.yaml"
printf 'version: v2\nplugins:\n  - local: protoc-gen-es\n    out: gen\n    opt: target=ts\n' > "$tmp/buf.gen.yaml"
cd "$tmp"
npm init -y > /dev/null
npm install --no-audit --no-fund --save-exact @bufbuild/buf@1.75.0 @bufbuild/protoc-gen-es@2.17.0 > /dev/null
PATH="$tmp/node_modules/.bin:$PATH" buf generate
cp gen/onnx_pb.ts "$root/src/io/onnx/onnx_pb.ts"
