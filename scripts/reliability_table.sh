#!/usr/bin/env bash
# scripts/reliability_table.sh: feeds snnkit each kind of bad input and prints a Markdown table row per case
# with the command and the one-line error it printed (docs/reliability.md holds the result).
# usage: scripts/reliability_table.sh SNNKIT_BINARY SNN_MODEL_DIR [WORK_DIR]   (about 1 minute)
#   SNN_MODEL_DIR: any Fashion-MNIST model (e.g. one made by `snnkit convert`); it is only read.
#   env: SEED_JPEG (a real JPEG file the oversized-image case starts from; default: the first JPEG of
#        ../shared/datasets/cifar10-jpeg.tar.gz beside the checkout)
set -uo pipefail
snn=$1 model=$2 w=${3:-/tmp/snnkit_reliability_table}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=/usr/bin/python3
rm -rf "$w"; mkdir -p "$w"; cd "$w"
if [ -z "${SEED_JPEG:-}" ]; then
  SEED_JPEG=$w/seed.jpg
  $py - "$src/../shared/datasets/cifar10-jpeg.tar.gz" "$SEED_JPEG" <<'PY' || { echo "no SEED_JPEG and no CIFAR-10 tarball to take one from"; exit 1; }
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        if m.isfile() and m.name.endswith(".jpg"):
            open(sys.argv[2], "wb").write(t.extractfile(m).read())
            break
    else:
        sys.exit(1)
PY
fi
export SEED_JPEG

# row KIND COMMAND...: runs the command, prints | kind | command | exit code | stderr's error line |
row() {
  local kind=$1; shift
  "$@" > out.txt 2> err.txt; local rc=$?
  local msg; msg=$(grep -m1 'error' err.txt || tail -1 err.txt)
  local cmd="${*/#$snn/snnkit}"; cmd=${cmd//$w\//}
  printf '| %s | `%s` | %s | `%s` |\n' "$kind" "$cmd" "$rc" "${msg//|/\\|}"
}

# --- fixtures ------------------------------------------------------------------------------------
$py - << 'PY'
import gzip, json, os, struct, shutil
def put(p, b):
    os.makedirs(os.path.dirname(p) or ".", exist_ok=True); open(p, "wb").write(b)
def idx(dims, payload, typ=8): return bytes([0, 0, typ, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload
good_lab = idx([2], bytes([1, 2]))
cases = {
  "magic": (b"\x00\x00\x08\x05" + bytes(20), good_lab),
  "float": (idx([2, 2, 2], bytes(32), 0x0D), good_lab),
  "trunc": (idx([2, 28, 28], bytes(100)), good_lab),
  "huge": (idx([1000000, 1000, 1000], bytes(16)), good_lab),
  "hugegz": (gzip.compress(idx([1000000, 1000, 1000], bytes(16))), good_lab),
  "badgz": (gzip.compress(idx([2, 2, 2], bytes(8)))[:-12] + b"garbage!", good_lab),
  "count": (idx([3, 2, 2], bytes(12)), good_lab),
  "trailing": (idx([2, 2, 2], bytes(8) + b"extra"), good_lab),
}
for k, (im, lab) in cases.items():
    put(f"idx_{k}/t10k-images-idx3-ubyte" + (".gz" if k in ("hugegz", "badgz") else ""), im)
    put(f"idx_{k}/t10k-labels-idx1-ubyte", lab)
px = bytes(3072)
put("cifar_trunc/test_batch.bin", bytes([1]) + px + bytes([2]) + px[:1000])
put("cifar_label/test_batch.bin", bytes([1]) + px + bytes([12]) + px)
def chunk(t, d):
    import zlib; return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
import zlib
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)) +
       chunk(b"IDAT", zlib.compress(bytes(4 * 13))) + chunk(b"IEND", b""))
put("img_trunc/test/c/a.png", png[:45])
put("img_text/test/c/a.jpg", b"this is not an image\n")
os.makedirs("img_empty/test/c", exist_ok=True)
jpg = bytearray(open(os.environ["SEED_JPEG"], "rb").read())
i = 2
while i < len(jpg):  # find SOF0/SOF2 and claim 60000 x 60000
    if jpg[i] == 0xFF and jpg[i + 1] in (0xC0, 0xC2):
        jpg[i + 5:i + 9] = struct.pack(">HH", 60000, 60000); break
    i += 2 + struct.unpack(">H", jpg[i + 2:i + 4])[0]
put("img_huge/test/c/a.jpg", bytes(jpg))
PY
[ $? -eq 0 ] || { echo "fixture generation failed"; exit 1; }

mkmodel() { rm -rf "$1"; cp -r "$model" "$1"; }
st() { # st DIR HEADER_JSON DATA_BYTES: writes DIR/model.safetensors
  $py -c "import struct,sys; h=sys.argv[1].encode(); open(sys.argv[2],'wb').write(struct.pack('<Q',len(h))+h+bytes(int(sys.argv[3])))" "$2" "$1/model.safetensors" "$3"; }
mkmodel m_json; head -c 100 "$model/model.json" > m_json/model.json
mkmodel m_op; sed -i '0,/"conv2d"/s//"conv9d"/' m_op/model.json
mkmodel m_trunc; head -c 1000 "$model/model.safetensors" > m_trunc/model.safetensors
mkmodel m_huge; st m_huge '{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,16]}}' 16
mkmodel m_hlen; printf '\xff\xff\xff\x00\x00\x00\x00\x00{}' > m_hlen/model.safetensors
mkmodel m_overlap; st m_overlap '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 8
mkmodel m_nan; $py - m_nan/model.safetensors << 'PY'
import json, struct, sys
b = bytearray(open(sys.argv[1], "rb").read()); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); k = next(k for k in h if k.endswith(".weight"))
o = 8 + n + h[k]["data_offsets"][0]; b[o:o + 4] = struct.pack("<f", float("nan")); open(sys.argv[1], "wb").write(bytes(b))
PY
head -c 3000 "$src/tests/interop/fixtures/small_cnn_op9.onnx" > trunc.onnx
head -c 300 /dev/urandom > random.onnx
echo "not an hdf5 file" > text.nir
head -c 4000 "$src/fuzz/corpus/nir/tiny_snn.nir" > trunc.nir

# --- the table -----------------------------------------------------------------------------------
echo "| bad input | command | exit | error printed |"
echo "|---|---|---|---|"
ev=(eval --model "$model" --T 1 --limit 8 --quiet --threads 1)
row "IDX: wrong magic number" "$snn" "${ev[@]}" --dataset mnist --data "$w/idx_magic"
row "IDX: float32 data type" "$snn" "${ev[@]}" --dataset mnist --data "$w/idx_float"
row "IDX: truncated image data" "$snn" "${ev[@]}" --dataset mnist --data "$w/idx_trunc"
row "IDX: header claims 10^12 pixels (raw, 16 B file)" "$snn" "${ev[@]}" --dataset mnist --data "$w/idx_huge"
row "IDX: header claims 10^12 pixels (gzip)" "$snn" "${ev[@]}" --dataset mnist --data "$w/idx_hugegz"
row "IDX: corrupt gzip stream" "$snn" "${ev[@]}" --dataset mnist --data "$w/idx_badgz"
row "IDX: 3 images, 2 labels" "$snn" "${ev[@]}" --dataset mnist --data "$w/idx_count"
row "IDX: trailing bytes" "$snn" "${ev[@]}" --dataset mnist --data "$w/idx_trailing"
row "IDX: missing directory" "$snn" "${ev[@]}" --dataset mnist --data "$w/nowhere"
row "CIFAR-10: partial record" "$snn" "${ev[@]}" --dataset cifar10 --data "$w/cifar_trunc"
row "CIFAR-10: label 12" "$snn" "${ev[@]}" --dataset cifar10 --data "$w/cifar_label"
row "ImageFolder: truncated PNG" "$snn" "${ev[@]}" --dataset imagefolder --data "$w/img_trunc"
row "ImageFolder: JPEG header claims 60000x60000" "$snn" "${ev[@]}" --dataset imagefolder --data "$w/img_huge"
row "ImageFolder: text file named .jpg" "$snn" "${ev[@]}" --dataset imagefolder --data "$w/img_text"
row "ImageFolder: empty class directory" "$snn" "${ev[@]}" --dataset imagefolder --data "$w/img_empty"
row "model: truncated model.json" "$snn" info "$w/m_json"
row "model: unknown op" "$snn" info "$w/m_op"
row "model: truncated model.safetensors" "$snn" info "$w/m_trunc"
row "safetensors: shape of 10^12 floats in a 16 B data section" "$snn" info "$w/m_huge"
row "safetensors: header length > file" "$snn" info "$w/m_hlen"
row "safetensors: two tensors on the same bytes" "$snn" info "$w/m_overlap"
row "model: NaN in a weight" "$snn" info "$w/m_nan"
row "model: missing directory" "$snn" info "$w/nowhere"
row "ONNX: truncated protobuf" "$snn" import-onnx "$w/trunc.onnx" --out "$w/o1"
row "ONNX: 300 random bytes" "$snn" import-onnx "$w/random.onnx" --out "$w/o2"
row "ONNX: unsupported op (Sigmoid)" "$snn" import-onnx "$src/tests/interop/fixtures/bad_sigmoid.onnx" --out "$w/o3"
row "ONNX: opset 8" "$snn" import-onnx "$src/tests/interop/fixtures/bad_opset8.onnx" --out "$w/o4"
row "ONNX: initializer missing" "$snn" import-onnx "$src/tests/interop/fixtures/bad_missing_init.onnx" --out "$w/o5"
row "NIR: not an HDF5 file" "$snn" import-nir "$w/text.nir" --out "$w/n1"
row "NIR: truncated HDF5 file" "$snn" import-nir "$w/trunc.nir" --out "$w/n2"
row "ONNX: shape op with a missing input (fuzz find)" "$snn" import-onnx \
  "$src/tests/interop/fixtures/fuzz_shape_op_missing_input.onnx" --out "$w/o6"
row "NIR: dataset claims 1.46e9 floats in 90 KB (fuzz find)" "$snn" import-nir \
  "$src/tests/interop/fixtures/fuzz_huge_dataset.nir" --out "$w/n3"
row "NIR: corrupt global-heap string reference, libhdf5 segfaults (fuzz find)" "$snn" import-nir \
  "$src/tests/interop/fixtures/fuzz_hdf5_global_heap_crash.nir" --out "$w/n4"
tr=(train-ann --dataset fmnist --arch cnn --epochs 1 --batch-size 32 --limit-train 256 --limit-test 64 --stats-samples 32
    --quiet --threads 1)
"$snn" "${tr[@]}" --out "$w/ck" --max-steps 1 > /dev/null 2>&1
[ -s "$w/ck/checkpoint.safetensors" ] || { echo "making the checkpoint fixture failed"; exit 1; }
cp -r "$w/ck" "$w/ck_trunc"; head -c 5000 "$w/ck/checkpoint.safetensors" > "$w/ck_trunc/checkpoint.safetensors"
row "checkpoint: truncated, --resume" "$snn" "${tr[@]}" --out "$w/ck_trunc" --resume
row "checkpoint: made with another --seed" "$snn" "${tr[@]}" --out "$w/ck" --resume --seed 5
row "checkpoint: already in --out, no --resume" "$snn" "${tr[@]}" --out "$w/ck"
row "training: loss diverges (--lr 1e30)" "$snn" "${tr[@]}" --out "$w/nan" --lr 1e30
