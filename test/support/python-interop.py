#!/usr/bin/python3
"""Interop driver for test/files/python-sdk-interop.test.ts: the official Azure Storage Python SDK
(azure-storage-blob, client-side encryption v2) uploads or downloads one blob.

    python-interop.py upload   --container C --blob B --file PLAINTEXT_IN  [--max-single-put-size N] [--max-block-size N]
    python-interop.py download --container C --blob B --file PLAINTEXT_OUT [--offset N --length N]
                               [--max-single-get-size N] [--max-chunk-get-size N]
    python-interop.py version

The connection string and the key-encryption key come from the environment, never from the
command line: INTEROP_CONNECTION_STRING, INTEROP_KEK_HEX (32 bytes, hex), INTEROP_KEK_ID.
Prints one JSON line on success; on failure prints the exception to stderr and exits 1.
"""
import argparse
import json
import os
import sys

from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap


class A256KWKey:
    """A key-encryption key as the SDK expects it: wrap_key, unwrap_key, get_kid, get_key_wrap_algorithm."""

    def __init__(self, key: bytes, kid: str):
        self._key = key
        self._kid = kid

    def wrap_key(self, key: bytes) -> bytes:
        return aes_key_wrap(self._key, key)

    def unwrap_key(self, key: bytes, algorithm: str) -> bytes:
        if algorithm != "A256KW":
            raise ValueError("unsupported key wrap algorithm")
        return aes_key_unwrap(self._key, key)

    def get_kid(self) -> str:
        return self._kid

    def get_key_wrap_algorithm(self) -> str:
        return "A256KW"


def client(args, kek):
    from azure.storage.blob import BlobClient

    kwargs = {}
    for name in ("max_single_put_size", "max_block_size", "max_single_get_size", "max_chunk_get_size"):
        value = getattr(args, name, None)
        if value is not None:
            kwargs[name] = value
    return BlobClient.from_connection_string(
        os.environ["INTEROP_CONNECTION_STRING"],
        container_name=args.container,
        blob_name=args.blob,
        key_encryption_key=kek,
        require_encryption=True,
        encryption_version="2.0",
        **kwargs,
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version")
    up = sub.add_parser("upload")
    down = sub.add_parser("download")
    for p in (up, down):
        p.add_argument("--container", required=True)
        p.add_argument("--blob", required=True)
        p.add_argument("--file", required=True)
    up.add_argument("--max-single-put-size", type=int, dest="max_single_put_size")
    up.add_argument("--max-block-size", type=int, dest="max_block_size")
    down.add_argument("--offset", type=int)
    down.add_argument("--length", type=int)
    down.add_argument("--max-single-get-size", type=int, dest="max_single_get_size")
    down.add_argument("--max-chunk-get-size", type=int, dest="max_chunk_get_size")
    args = parser.parse_args()

    if args.command == "version":
        from azure.storage.blob._version import VERSION

        print(json.dumps({"azure-storage-blob": VERSION, "python": sys.version.split()[0]}))
        return 0

    kek = A256KWKey(bytes.fromhex(os.environ["INTEROP_KEK_HEX"]), os.environ["INTEROP_KEK_ID"])
    blob = client(args, kek)
    if args.command == "upload":
        with open(args.file, "rb") as f:
            data = f.read()
        blob.upload_blob(data, overwrite=True)
        props = blob.get_blob_properties()
        print(json.dumps({"size": props.size, "metadata": dict(props.metadata)}))
    else:
        kwargs = {}
        if args.offset is not None:
            kwargs["offset"] = args.offset
            kwargs["length"] = args.length
        data = blob.download_blob(**kwargs).readall()
        with open(args.file, "wb") as f:
            f.write(data)
        print(json.dumps({"size": len(data)}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - report any SDK failure to the test
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
