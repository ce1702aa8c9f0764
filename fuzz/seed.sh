#!/bin/sh
# Seeds the fuzz corpora: JSONTestSuite's parsing cases (../../shared/jsontestsuite,
# or $JSONTESTSUITE) and the JSON-RPC 2.0 specification's examples.
# Then: cargo +nightly fuzz run dispatch (or framing, params, client_answer).
set -eu
cd "$(dirname "$0")"
suite=${JSONTESTSUITE:-../../shared/jsontestsuite/test_parsing}
mkdir -p corpus/dispatch corpus/client_answer corpus/framing corpus/params
if [ -d "$suite" ]; then
    cp "$suite"/*.json corpus/dispatch/
    cp "$suite"/*.json corpus/client_answer/
fi
i=0
while IFS= read -r line; do
    i=$((i + 1))
    printf '%s' "$line" > "corpus/dispatch/spec-$i.json"
    printf '%s' "$line" > "corpus/client_answer/spec-$i.json"
    # Framing seeds: a newline frame and a 4-byte length-prefixed one.
    printf '\000%s\n' "$line" > "corpus/framing/newline-$i"
    len=$(printf '%s' "$line" | wc -c)
    printf "\003$(printf '\\%03o\\%03o\\%03o\\%03o' $((len >> 24 & 255)) $((len >> 16 & 255)) $((len >> 8 & 255)) $((len & 255)))%s" "$line" > "corpus/framing/lp4-$i"
done <<'SPEC'
{"jsonrpc": "2.0", "method": "add", "params": [42, 23], "id": 1}
{"jsonrpc": "2.0", "method": "add", "params": {"a": 23, "b": 42}, "id": 3}
{"jsonrpc": "2.0", "method": "greet", "params": ["Ann", "Dr"], "id": "x"}
{"jsonrpc": "2.0", "method": "note", "params": ["hi"]}
{"jsonrpc": "2.0", "method": "shift", "params": [{"x": 1, "y": null}, [2, 3]], "id": null}
{"jsonrpc": "2.0", "method": "area", "params": [{"kind": "rect", "width": 2, "height": 3}], "id": 4}
{"jsonrpc": "2.0", "method": "many", "params": {"values": [1, 2], "names": {"a": true}}, "id": 5}
{"jsonrpc": "2.0", "method": "foobar", "id": "1"}
{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]
[{"jsonrpc": "2.0", "method": "add", "params": [1,2], "id": "1"}, {"jsonrpc": "2.0", "method": "note", "params": ["x"]}, {"foo": "boo"}, {"jsonrpc": "2.0", "method": "echo", "params": {"value": [1]}, "id": 9}]
[]
[1,2,3]
{"jsonrpc": "2.0", "result": 19, "id": 1}
{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}
[{"jsonrpc": "2.0", "result": 7, "id": 2}, {"jsonrpc": "2.0", "result": 1, "id": 3}]
{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}
SPEC
# Params seeds: a byte choosing the parameters' types, then `params`.
j=0
while IFS= read -r params; do
    j=$((j + 1))
    for shape in 0 1 2 3; do
        printf "\\00$shape%s" "$params" > "corpus/params/seed-$j-$shape"
    done
done <<'PARAMS'
[1, 2.5, "x", true]
{"a": 1, "b": 2, "c": null}
[{"x": 1, "y": null, "tags": ["a"]}, [1, 2], [3], {"kind": "rect", "width": 2, "height": 3}]
{"a": {"k": 1.5}, "b": "text", "c": {"x": 2}, "d": "c"}
["s", {"raw": [1]}, null, 340282366920938463463374607431768211455]
[]
{}
[1, 2, 3, 4, 5]
{"e": 1}
["\ud800"]
PARAMS
echo "seeded: $(ls corpus/dispatch | wc -l) dispatch, $(ls corpus/framing | wc -l) framing, $(ls corpus/client_answer | wc -l) client_answer, $(ls corpus/params | wc -l) params"
