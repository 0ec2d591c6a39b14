#!/usr/bin/env python3
"""Writes the safetensors seed corpus, fuzz/corpus/safetensors/ (run from anywhere).

Each seed is a small file that is valid or broken in one named way, so that
the fuzzer starts from every branch of the loader's checks.
"""

import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors")


def pack(header, data=b"", pad=True, length=None):
    """A safetensors file: u64 header length, the JSON header, the data."""
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    n = len(text) if length is None else length
    return struct.pack("<Q", n) + text + data


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def f64(*values):
    return struct.pack("<%dd" % len(values), *values)


def i64(*values):
    return struct.pack("<%dq" % len(values), *values)


def main():
    os.makedirs(OUT, exist_ok=True)
    w = f32(1, 2, 3, 4, 5, 6)
    b = f32(0.5, -0.5)
    valid_header = {
        "__metadata__": {"format": "pt", "epochs": "3"},
        "0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [8, 32]},
        "labels": {"dtype": "I64", "shape": [2], "data_offsets": [32, 48]},
        "scale": {"dtype": "F64", "shape": [], "data_offsets": [48, 56]},
    }
    valid_data = b + w + i64(0, 7) + f64(2.5)
    valid = pack(valid_header, valid_data)
    seeds = {
        "valid.safetensors": valid,
        "valid_unpadded.safetensors": pack(valid_header, valid_data, pad=False),
        "valid_empty_tensor.safetensors": pack(
            {"empty": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}}),
        "valid_no_tensors.safetensors": pack({}),
        "valid_metadata_only.safetensors": pack({"__metadata__": {"k": "v\u00e9\\n\""}}),
        "valid_nan_weights.safetensors": pack(
            {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
            struct.pack("<2I", 0x7FC00000, 0x7F800000)),
        "truncated_4_bytes.safetensors": valid[:4],
        "truncated_in_header.safetensors": valid[:20],
        "truncated_in_data.safetensors": valid[:-1],
        "trailing_byte.safetensors": valid + b"\0",
        "header_length_huge.safetensors": b"\xff" * 8 + b"{}",
        "header_length_past_end.safetensors": pack({}, length=4096),
        "header_not_json.safetensors": pack(b"hello, world"),
        "header_not_object.safetensors": pack(b"[1, 2, 3]"),
        "header_unclosed_string.safetensors": pack(b'{"a'),
        "unknown_dtype.safetensors": pack(
            {"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4),
        "offsets_overlap.safetensors": pack(
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
        "offsets_gap.safetensors": pack(
            {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
             "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, b"\0" * 12),
        "offsets_outside.safetensors": pack(
            {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8),
        "offsets_reversed.safetensors": pack(
            {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4),
        "shape_bytes_mismatch.safetensors": pack(
            {"a": {"dtype": "F64", "shape": [3], "data_offsets": [0, 16]}}, b"\0" * 16),
        "shape_petabytes.safetensors": pack(
            {"a": {"dtype": "F32", "shape": [1000000000, 1000000000], "data_offsets": [0, 8]}},
            b"\0" * 8),
        "shape_overflow.safetensors": pack(
            {"a": {"dtype": "F64", "shape": [4294967296, 4294967296, 4], "data_offsets": [0, 8]}},
            b"\0" * 8),
        "shape_negative.safetensors": pack(
            {"a": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 8]}}, b"\0" * 8),
        "shape_rank_9.safetensors": pack(
            {"a": {"dtype": "F32", "shape": [1] * 9, "data_offsets": [0, 4]}}, b"\0" * 4),
        "duplicate_names.safetensors": pack(
            b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
            b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8),
        "metadata_not_string.safetensors": pack({"__metadata__": {"epochs": 3}}),
        "missing_field.safetensors": pack({"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4),
        "unknown_field.safetensors": pack(
            {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}, b"\0" * 4),
        "float_offsets.safetensors": pack(
            b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4e0]}}', b"\0" * 4),
        "escaped_name.safetensors": pack(
            b'{"\\u0061\\ud83d\\ude00\\n":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
            b"\0" * 4),
        "lone_surrogate_name.safetensors": pack(
            b'{"\\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
        "non_utf8_name.safetensors": pack(
            b'{"\xff":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
        "deep_nesting.safetensors": pack(b"[" * 2000 + b"]" * 2000),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
