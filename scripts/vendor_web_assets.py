#!/usr/bin/env python3
"""Vendor the graph library of ``ripmap serve`` into the package (run by hand, not at install).

The web page draws the reference graph with Cytoscape.js. Nothing may be fetched from
a CDN when the page runs (``ripmap serve`` is offline and ``ripmap --format html`` is a
single self-contained file), so the library's minified build ships inside the package
as data, with its licence beside it:

    src/ripmap/web/static/vendor/cytoscape.min.js
    src/ripmap/web/static/vendor/cytoscape.LICENSE
    src/ripmap/web/static/vendor/VENDORED.json   (name, version, integrity, sha256 of each file)

How: ``npm pack NAME@VERSION`` (npm's own client, whatever registry it is configured
for) downloads the published tarball; its sha512 is checked against the integrity pinned
below before anything is extracted, so a tampered or different tarball fails loudly.
To upgrade: change VERSION, run once with ``--print-integrity`` to see the new tarball's
integrity, check it against ``npm view cytoscape@VERSION dist.integrity``, pin it, run
again, and commit the three files.

Usage::

    python scripts/vendor_web_assets.py            # fetch, verify, write the files
    python scripts/vendor_web_assets.py --check    # verify the committed files only (no network)
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

NAME = "cytoscape"
VERSION = "3.35.0"
INTEGRITY = "sha512-sMvBIXiGMnhkCaWz2R06FwF/27MNlS+Tqvi17foO9UhnUg3XGZccKjxsvEqQFAQYMSSZmN5SxYzUYlQ0DOJJ3g=="
#: tarball member → file name in the vendor folder
MEMBERS = {"package/dist/cytoscape.min.js": "cytoscape.min.js", "package/LICENSE": "cytoscape.LICENSE"}

VENDOR = Path(__file__).resolve().parent.parent / "src" / "ripmap" / "web" / "static" / "vendor"


def sri(data: bytes) -> str:
    """The npm ``integrity`` string (Subresource Integrity, sha512) of ``data``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def pack(spec: str) -> bytes:
    """The published tarball of ``spec`` as bytes, downloaded by ``npm pack``."""
    if shutil.which("npm") is None:
        raise SystemExit("vendor_web_assets: npm is not installed (apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(["npm", "pack", spec, "--json", "--silent"], cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"vendor_web_assets: npm pack {spec} failed: {r.stderr.strip().splitlines()[-1:]}")
        name = json.loads(r.stdout)[0]["filename"]
        return (Path(tmp) / name).read_bytes()


def extract(tarball: bytes) -> dict[str, bytes]:
    """The wanted members of the tarball, by vendor file name."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tf:
        for member, target in MEMBERS.items():
            f = tf.extractfile(member)
            if f is None:
                raise SystemExit(f"vendor_web_assets: {member} is missing from {NAME}@{VERSION}")
            out[target] = f.read()
    return out


def manifest(files: dict[str, bytes]) -> dict:
    return {"name": NAME, "version": VERSION, "integrity": INTEGRITY, "license": "MIT",
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
            "how": "scripts/vendor_web_assets.py"}


def check() -> int:
    """Whether the committed files are what the manifest (and this script's pin) say."""
    try:
        m = json.loads((VENDOR / "VENDORED.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"vendor_web_assets: no readable VENDORED.json ({e})", file=sys.stderr)
        return 1
    bad = [n for n, h in m.get("files", {}).items()
           if not (VENDOR / n).is_file() or hashlib.sha256((VENDOR / n).read_bytes()).hexdigest() != h]
    if m.get("version") != VERSION or m.get("integrity") != INTEGRITY or bad:
        print(f"vendor_web_assets: vendored files differ from the pin ({', '.join(bad) or 'version'})", file=sys.stderr)
        return 1
    print(f"vendor_web_assets: {NAME}@{VERSION} ok ({len(m['files'])} files)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="verify the committed files against the manifest")
    ap.add_argument("--print-integrity", action="store_true", help="print the downloaded tarball's integrity and stop")
    args = ap.parse_args(argv)
    if args.check:
        return check()
    tarball = pack(f"{NAME}@{VERSION}")
    got = sri(tarball)
    if args.print_integrity:
        print(got)
        return 0
    if got != INTEGRITY:
        print(f"vendor_web_assets: {NAME}@{VERSION} integrity {got} is not the pinned {INTEGRITY}", file=sys.stderr)
        return 1
    files = extract(tarball)
    VENDOR.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (VENDOR / name).write_bytes(data)
    (VENDOR / "VENDORED.json").write_text(json.dumps(manifest(files), indent=2) + "\n", encoding="utf-8")
    print(f"vendor_web_assets: wrote {', '.join(sorted(files))} ({NAME}@{VERSION}) to {VENDOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
