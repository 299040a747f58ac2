"""Glance's file store: image data as plain files under one folder, hashed while streaming."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import re
import tempfile
from collections.abc import Iterable, Iterator

from stackling.storage import formats

CHUNK_SIZE = 1024 * 1024
HASH_ALGO = "sha512"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}\Z")

detect_format = formats.detect_format


class ImageStoreError(Exception):
    """Base class for image store failures."""


class InvalidImageId(ImageStoreError, ValueError):
    """The id would escape the store's folder or is not a plain file name."""


class ImageNotStored(ImageStoreError, FileNotFoundError):
    """No data has been stored for this image."""


class ImageSizeMismatch(ImageStoreError):
    """The stream was longer or shorter than the size the caller announced."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(f"expected {expected} bytes of image data, got {actual}")


class InvalidRange(ImageStoreError, ValueError):
    """A byte range that does not overlap the image."""


@dataclasses.dataclass(frozen=True)
class StoredImage:
    """The result of an upload: where the bytes are and the fields Glance shows for them."""

    path: pathlib.Path
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str
    virtual_size: int | None
    detected_format: str


class RangeReader:
    """Iterator over a byte range of an open file; ``close()`` for WSGI ``app_iter`` use."""

    def __init__(self, f, start: int, end: int, chunk_size: int = CHUNK_SIZE) -> None:
        self._f, self._pos, self._end, self._chunk = f, start, end, chunk_size
        self.length = end - start

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._pos >= self._end or self._f.closed:
            self.close()
            raise StopIteration
        data = os.pread(self._f.fileno(), min(self._chunk, self._end - self._pos), self._pos)
        if not data:  # NOTE: the file shrank under us (deleted and replaced); stop cleanly.
            self.close()
            raise StopIteration
        self._pos += len(data)
        return data

    def close(self) -> None:
        self._f.close()


class ImageStore:
    """Images live as ``<root>/<image_id>``; uploads land atomically or not at all."""

    def __init__(self, root: pathlib.Path, *, fsync: bool = False) -> None:
        self.root = pathlib.Path(root)
        self.fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, image_id: str) -> pathlib.Path:
        if not _SAFE_ID.match(image_id):
            raise InvalidImageId(f"invalid image id {image_id!r}")
        return self.root / image_id

    def exists(self, image_id: str) -> bool:
        return self.path(image_id).is_file()

    def size(self, image_id: str) -> int:
        try:
            return self.path(image_id).stat().st_size
        except FileNotFoundError:
            raise ImageNotStored(f"no data stored for image {image_id}") from None

    def delete(self, image_id: str) -> None:
        self.path(image_id).unlink(missing_ok=True)

    def write(self, image_id: str, chunks: Iterable[bytes],
              expected_size: int | None = None) -> StoredImage:
        """Stream ``chunks`` into the store, hashing as they pass; replaces any older data."""
        final = self.path(image_id)
        # NOTE: the temp file sits in the same folder so the final rename is atomic, and
        # starts with a dot so it can never collide with an image id (ids start alnum).
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=f".{image_id}.", suffix=".part")
        tmp = pathlib.Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                size, md5, sha = self._stream(f, chunks, expected_size)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            info = formats.inspect(tmp)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if self.fsync:
            self._fsync_dir()
        return StoredImage(final, size, md5.hexdigest(), HASH_ALGO, sha.hexdigest(),
                           info.virtual_size, info.format)

    @staticmethod
    def _stream(f, chunks: Iterable[bytes], expected_size: int | None):
        # NOTE: md5 is Glance's legacy ``checksum``, not a security control, so say so for
        # FIPS-mode OpenSSL builds that otherwise refuse to hand out md5.
        md5 = hashlib.md5(usedforsecurity=False)
        sha = hashlib.new(HASH_ALGO)
        size = 0
        for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if expected_size is not None and size > expected_size:
                raise ImageSizeMismatch(expected_size, size)
            md5.update(chunk)
            sha.update(chunk)
            f.write(chunk)
        if expected_size is not None and size != expected_size:
            raise ImageSizeMismatch(expected_size, size)
        return size, md5, sha

    def _fsync_dir(self) -> None:
        dfd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def open_range(self, image_id: str, start: int = 0, end: int | None = None,
                   chunk_size: int = CHUNK_SIZE) -> RangeReader:
        """Chunks of bytes ``[start, end)`` (``end`` exclusive, clamped to the image size).

        HTTP ``Range: bytes=a-b`` is inclusive, so the caller passes ``end=b + 1``.
        """
        try:
            f = open(self.path(image_id), "rb")
        except FileNotFoundError:
            raise ImageNotStored(f"no data stored for image {image_id}") from None
        size = os.fstat(f.fileno()).st_size
        end = size if end is None else min(end, size)
        if start < 0 or start > end or (start == size and size > 0):
            f.close()
            raise InvalidRange(f"range {start}-{end} not satisfiable for {size} bytes")
        return RangeReader(f, start, end, chunk_size)
