#!/usr/bin/env python3
"""Writes an IDX dataset (MNIST's layout) as a folder of PNG files, one sub-folder per class
under train/ and test/: the layout `trilemma train --dataset DIR` reads. It makes a worked
example of a user's own image folder from data already here (README, "Datasets").

usage: idx_to_png_folder.py IDX_DIR OUT_DIR [--classes 0,1,2] [--per-class N] [--colour]

--colour draws each class's strokes in its own colour on black (RGB files), so that the
colour channels carry information. Standard library only (gzip, zlib, struct).
"""
import argparse
import gzip
import os
import struct
import sys
import zlib

PALETTE = [(255, 80, 80), (80, 200, 255), (255, 210, 60), (120, 255, 120), (230, 120, 255),
           (255, 160, 60), (60, 120, 255), (255, 255, 255), (160, 255, 220), (255, 120, 180)]


def read_idx(path):
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(candidate, "rb") as f:
                data = f.read()
            break
    else:
        sys.exit(f"error: {path}: missing")
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return dims, data[4 + 4 * rank:]


def png_bytes(width, height, channels, pixels):
    """pixels: bytes, row-major, `channels` per pixel (1 grey, 3 RGB)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    colour_type = 0 if channels == 1 else 2
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    stride = width * channels
    raw = b"".join(b"\x00" + pixels[y * stride:(y + 1) * stride] for y in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("idx_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--classes", default="", help="comma-separated labels to keep (default: all)")
    parser.add_argument("--per-class", type=int, default=0, help="training images per class (default: all)")
    parser.add_argument("--colour", action="store_true", help="RGB files, one stroke colour per class")
    args = parser.parse_args()
    if os.path.exists(args.out_dir):
        sys.exit(f"error: {args.out_dir}: exists; choose another folder")
    keep = {int(c) for c in args.classes.split(",")} if args.classes else None
    for split, prefix in (("train", "train"), ("test", "t10k")):
        (n, h, w), images = read_idx(os.path.join(args.idx_dir, prefix + "-images-idx3-ubyte"))
        _, labels = read_idx(os.path.join(args.idx_dir, prefix + "-labels-idx1-ubyte"))
        limit = args.per_class if split == "train" else (args.per_class // 6 if args.per_class else 0)
        written = {}
        for i in range(n):
            label = labels[i]
            if keep is not None and label not in keep:
                continue
            if limit and written.get(label, 0) >= limit:
                continue
            pixels = images[i * h * w:(i + 1) * h * w]
            if args.colour:
                r, g, b = PALETTE[label % len(PALETTE)]
                pixels = bytes(v for p in pixels for v in (p * r // 255, p * g // 255, p * b // 255))
            folder = os.path.join(args.out_dir, split, str(label))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
                f.write(png_bytes(w, h, 3 if args.colour else 1, pixels))
            written[label] = written.get(label, 0) + 1
        print(f"{split}: {sum(written.values())} images in {len(written)} classes under {args.out_dir}/{split}")


if __name__ == "__main__":
    main()
