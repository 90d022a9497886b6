"""Reading the payload, stored as `_rshiv/unpack.py`; only first runs import it.

The payload (`_rshiv/payload.zip`, a stored inner zip) is read straight from the pyz with a
small ZIP reader of its own (APPNOTE.TXT 4.3: end of central directory, ZIP64 records,
central and local headers), then unpacked in threads: zlib, bz2, lzma and file writes release
the GIL, so the work spreads over the cores, biggest files first.
"""

import os
import struct
import zlib

from _rshiv.runtime import Fatal, write_all

PAYLOAD = "_rshiv/payload.zip"
# A multi-target pyz's map of which payload files each target extracts (see `select`), and
# the payload's folder of the variants that differ from the plain paths' (the names of
# src/archive/bootstrap.rs and src/archive/fleet.rs: the drift test checks them).
TARGETS = "_rshiv/targets.txt"
TARGETS_HEADER = "rshiv-targets 1"
VARIANTS = "_rshiv/"
# Compression methods the builder writes (APPNOTE 4.4.5).
STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
METHODS = (STORED, DEFLATED, BZIP2, LZMA)
# Files bigger than this are inflated in pieces, to bound memory per worker.
WHOLE_FILE_MAX = 1 << 20
READ_PIECE = 256 << 10
# Entries up to this (compressed) size are read in runs of up to BATCH_BYTES with one pread;
# BATCH_SLACK covers the last entry's local extra field.
BATCH_ENTRY_MAX = 64 << 10
BATCH_BYTES = 512 << 10
BATCH_SLACK = 64

# Records of APPNOTE.TXT 4.3.16, 4.3.15, 4.3.14, 4.3.12 and 4.3.7 (struct formats, sizes).
END, END_SIZE = "<4s4H2LH", 22
END64_LOCATOR_SIZE = 20
END64, END64_SIZE = "<4sQ2H2L4Q", 56
CENTRAL, CENTRAL_SIZE = "<4s6H3L5H2L", 46
LOCAL_SIZE = 30


def read_central_directory(fd, start, size):
    """(base, entries) of the zip in bytes [start, start + size) of `fd`.

    `base` is where the zip's offset 0 lies in the file (data may precede a zip, like the
    shebang). Each entry is (name, method, crc, compressed size, size, header offset, mode,
    length of the name as stored).
    """
    tail_size = min(size, END_SIZE + 0xFFFF)
    tail_start = start + size - tail_size
    tail = os.pread(fd, tail_size, tail_start)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0:
        raise Fatal("the archive is damaged: no end of central directory")
    _, _, _, _, count, cd_size, cd_offset, _ = struct.unpack_from(END, tail, at)
    end_at = tail_start + at
    if count == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_offset):
        end_at = end_at - END64_LOCATOR_SIZE - END64_SIZE
        record = os.pread(fd, END64_SIZE, end_at)
        if len(record) < END64_SIZE or record[:4] != b"PK\x06\x06":
            raise Fatal("the archive is damaged: bad ZIP64 end of central directory")
        _, _, _, _, _, _, _, count, cd_size, cd_offset = struct.unpack(END64, record)
    base = end_at - cd_size - cd_offset
    directory = os.pread(fd, cd_size, end_at - cd_size)
    return base, list(parse_entries(directory, count))


def parse_entries(directory, count):
    """Yield the central directory's entries (see read_central_directory)."""
    at = 0
    for _ in range(count):
        fields = struct.unpack_from(CENTRAL, directory, at)
        if fields[0] != b"PK\x01\x02":
            raise Fatal("the archive is damaged: bad central directory")
        method, crc, csize, size = fields[4], fields[7], fields[8], fields[9]
        name_len, extra_len, comment_len = fields[10], fields[11], fields[12]
        offset, mode = fields[16], fields[15] >> 16
        name_at = at + CENTRAL_SIZE
        name = directory[name_at : name_at + name_len].decode("utf-8", "surrogateescape")
        if 0xFFFFFFFF in (csize, size, offset):
            extra = directory[name_at + name_len : name_at + name_len + extra_len]
            size, csize, offset = zip64_sizes(extra, size, csize, offset)
        at = name_at + name_len + extra_len + comment_len
        yield name, method, crc, csize, size, offset, 0o755 if mode & 0o111 else 0o644, name_len


def zip64_sizes(extra, size, csize, offset):
    """The ZIP64 extended information field (APPNOTE 4.5.3) replaces the saturated values."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 1:
            values = list(struct.unpack_from("<%dQ" % (length // 8), extra, at + 4))
            if size == 0xFFFFFFFF:
                size = values.pop(0)
            if csize == 0xFFFFFFFF:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF:
                offset = values.pop(0)
            return size, csize, offset
        at += 4 + length
    raise Fatal("the archive is damaged: missing ZIP64 sizes")


def data_start(fd, header_at):
    """Where an entry's data begins, from its local header at `header_at`."""
    header = os.pread(fd, LOCAL_SIZE, header_at)
    if len(header) < LOCAL_SIZE or header[:4] != b"PK\x03\x04":
        raise Fatal("the archive is damaged: bad local header at %d" % header_at)
    name_len, extra_len = struct.unpack_from("<HH", header, 26)
    return header_at + LOCAL_SIZE + name_len + extra_len


def outer_member(archive, outer, wanted):
    """The outer zip's entry `wanted`; a pyz without it is not an rshiv app."""
    for entry in outer:
        if entry[0] == wanted:
            return entry
    raise Fatal("%s is not an rshiv app: no %s" % (archive, wanted))


def locate_payload(fd, archive, base, outer):
    """(start, size) of the stored `_rshiv/payload.zip` in the pyz."""
    _, method, _, csize, _, offset, _, _ = outer_member(archive, outer, PAYLOAD)
    if method != STORED:
        raise Fatal("%s: %s must be stored, not compressed" % (archive, PAYLOAD))
    return data_start(fd, base + offset), csize


def read_target(fd, archive, base, outer, build_id):
    """The files of the target with this build id, from `_rshiv/targets.txt` (deflated or
    stored): what it extracts. (Targets with one build id have one tree, so the first is it.)"""
    _, method, crc, csize, size, offset, _, _ = outer_member(archive, outer, TARGETS)
    data = os.pread(fd, csize, data_start(fd, base + offset))
    if method not in (STORED, DEFLATED):
        raise Fatal("%s: %s uses compression method %d" % (archive, TARGETS, method))
    if method == DEFLATED:
        data = zlib.decompressobj(-15).decompress(data, size + 1)
    if len(data) != size or zlib.crc32(data) != crc:
        raise Fatal("the archive is damaged: %s fails its size or CRC check" % TARGETS)
    return target_files(data, build_id)


def target_files(data, build_id):
    """`{"missing": [path, ...], "variants": {path: i}}` of the target with this build id in
    the manifest `data` (the format of src/archive/fleet.rs: a header line, then per target
    `target <id>` and its `missing <path>` and `variant <i> <path>` lines)."""
    lines = data.decode("utf-8", "replace").split("\n")
    if lines[0] != TARGETS_HEADER:
        raise Fatal("the archive is damaged: %s does not start with %r" % (TARGETS, TARGETS_HEADER))
    files = None
    for number, line in enumerate(lines[1:], 2):
        kind, _, rest = line.partition(" ")
        index, _, path = rest.partition(" ")
        if kind == "target":
            if files is not None:
                return files
            if rest == build_id:
                files = {"missing": [], "variants": {}}
        elif kind == "missing" and rest:
            if files is not None:
                files["missing"].append(rest)
        elif kind == "variant" and index.isdigit() and path:
            if files is not None:
                files["variants"][path] = int(index)
        elif line or number != len(lines):
            raise Fatal("the archive is damaged: %s line %d: %r" % (TARGETS, number, line))
    if files is None:
        raise Fatal("the archive is damaged: %s: no target of build id %s" % (TARGETS, build_id))
    return files


def variant_member(i, path):
    """`_rshiv/<i>/<path>`: where the payload stores the i-th further variant of `path`."""
    return "%s%d/%s" % (VARIANTS, i, path)


def select(entries, files):
    """The entries a target extracts, each under its path, by its `files` (its entry in
    targets.txt): every plain path not in its `missing`, a path in its `variants` read from
    `_rshiv/<i>/<path>`, and nothing else stored under `_rshiv/`."""
    by_name = {entry[0]: entry for entry in entries}
    missing = set(files["missing"])
    variants = files["variants"]
    chosen = []
    for entry in entries:
        name = entry[0]
        if name.startswith(VARIANTS) or name in missing:
            continue
        if name in variants:
            stored = by_name.get(variant_member(variants[name], name))
            if stored is None:
                raise Fatal("the archive is damaged: no variant %d of %s" % (variants[name], name))
            entry = (name,) + stored[1:]
        chosen.append(entry)
    return chosen


def unpack_payload(archive, site_packages, target=None):
    """Unpack the payload into `site_packages`, checking sizes and CRCs; return its entries.

    `target` is, in a multi-target pyz, the build id of the target whose files are wanted.
    """
    try:
        fd = os.open(archive, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise Fatal("cannot read %s: %s" % (archive, error.strerror))
    try:
        outer_base, outer = read_central_directory(fd, 0, os.fstat(fd).st_size)
        start, size = locate_payload(fd, archive, outer_base, outer)
        base, entries = read_central_directory(fd, start, size)
        if target is not None:
            entries = select(entries, read_target(fd, archive, outer_base, outer, target))
        make_dirs(site_packages, entries)
        Unpacker(fd, base, site_packages).run(entries)
    finally:
        os.close(fd)
    return entries


def safe_name(name):
    """Whether a payload path stays inside site-packages (no absolute path, `..` or NUL)."""
    parts = name.split("/")
    return not name.startswith("/") and "\0" not in name and ".." not in parts and "" not in parts


def make_dirs(site_packages, entries):
    """Create every directory the entries need, parents first, 0755 (the caller sets umask
    022), and a `__pycache__` beside every `.py`: made now, it is ours and 0755, where Python
    would make it later with the user's umask (000 lets anyone plant bytecode)."""
    dirs = set()
    for entry in entries:
        if not safe_name(entry[0]):
            raise Fatal("the payload holds an unsafe path: %r" % entry[0])
        parent = entry[0].rpartition("/")[0]
        if entry[0].endswith(".py"):
            dirs.add(parent + "/__pycache__" if parent else "__pycache__")
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = parent.rpartition("/")[0]
    for directory in sorted(dirs):
        os.mkdir(os.path.join(site_packages, directory), 0o755)


def worker_count():
    """Threads to unpack with: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


class Unpacker:
    """Inflates entries in parallel threads, each file with its own descriptor."""

    def __init__(self, fd, base, site_packages):
        """Read entries from the zip at `base` in `fd`, write under `site_packages`."""
        self.fd = fd
        self.base = base
        self.site_packages = site_packages
        self.errors = []

    def run(self, entries):
        """Unpack every entry, biggest jobs first so threads finish together; raise the first
        error. Small deflated or stored entries that lie next to each other form one job, read
        with one pread: per-file system calls and GIL time are what limit the threads."""
        import threading

        self.queue = iter(jobs(entries))
        threads = [
            threading.Thread(target=self.work) for _ in range(min(worker_count(), len(entries)) - 1)
        ]
        for thread in threads:
            thread.start()
        self.work()
        for thread in threads:
            thread.join()
        if self.errors:
            raise self.errors[0]

    def work(self):
        """Take jobs from the shared queue until it is empty or a thread failed."""
        for _, batch in self.queue:
            if self.errors:
                return
            try:
                if len(batch) == 1:
                    self.unpack(batch[0])
                else:
                    self.unpack_batch(batch)
            except BaseException as error:
                self.errors.append(error)
                return

    def unpack_batch(self, batch):
        """Unpack adjacent small entries from one read of the bytes they span.

        An entry whose local header or data is not wholly inside the read (an unexpected
        extra field) is unpacked on its own instead.
        """
        first, last = batch[0], batch[-1]
        start = self.base + first[5]
        end = self.base + last[5] + LOCAL_SIZE + last[7]
        view = memoryview(os.pread(self.fd, end + last[3] + BATCH_SLACK - start, start))
        for entry in batch:
            _, method, _, csize, size, offset, _, _ = entry
            at = offset - first[5]
            if at + LOCAL_SIZE > len(view) or view[at : at + 4] != b"PK\x03\x04":
                self.unpack(entry)
                continue
            name_len, extra_len = struct.unpack_from("<HH", view, at + 26)
            data_at = at + LOCAL_SIZE + name_len + extra_len
            if data_at + csize > len(view):
                self.unpack(entry)
                continue
            self.create(entry, write_whole, method, view[data_at : data_at + csize], size, entry[0])

    def unpack(self, entry):
        """Write one file, checking its size and CRC-32."""
        name, method, _, csize, size, offset, _, _ = entry
        if method not in METHODS:
            raise Fatal(
                "the payload's %s uses compression method %d, which rshiv does not write"
                % (name, method)
            )
        start = data_start(self.fd, self.base + offset)
        if size <= WHOLE_FILE_MAX and method in (STORED, DEFLATED):
            self.create(entry, write_whole, method, os.pread(self.fd, csize, start), size, name)
        else:
            self.create(entry, self.pieces, Inflater(method, name), start, csize, size)

    def create(self, entry, fill, *args):
        """Create the entry's file, let `fill(out, *args)` write it and return (size, crc),
        and check both against the central directory."""
        name, _, crc, _, size, _, mode, _ = entry
        path = os.path.join(self.site_packages, name)
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            written, check = fill(out, *args)
        finally:
            os.close(out)
        if written != size or check != crc:
            raise Fatal("the payload is damaged: %s fails its size or CRC check" % name)

    def pieces(self, out, inflater, start, csize, size):
        """Decompress a file piece by piece, bounding memory and stopping at the first byte
        beyond its declared `size`; return (size, crc)."""
        written, check, at, end = 0, 0, start, start + csize
        while at < end:
            data = os.pread(self.fd, min(READ_PIECE, end - at), at)
            if not data:
                break
            at += len(data)
            for piece in inflater.feed(data):
                written += len(piece)
                if written > size:
                    raise too_big(inflater.name, size)
                write_all(out, piece)
                check = zlib.crc32(piece, check)
        return written, check


def too_big(name, size):
    """The error for an entry that inflates beyond its declared size."""
    return Fatal("the payload is damaged: %s inflates beyond its declared %d bytes" % (name, size))


def write_whole(out, method, data, size, name=""):
    """Write a stored or deflated entry held whole in `data`; return (size, crc). Inflating
    stops one byte past the declared size (zlib's max_length), so memory stays bounded."""
    if method == DEFLATED:
        data = zlib.decompressobj(-15).decompress(data, size + 1)
        if len(data) > size:
            raise too_big(name, size)
    write_all(out, data)
    return len(data), zlib.crc32(data)


def jobs(entries):
    """(bytes, [entry, ...]) jobs, biggest first: one per big or bzip2/LZMA entry, and runs of
    small stored or deflated entries that are adjacent in the zip, up to BATCH_BYTES each."""
    singles, runs, run, run_bytes = [], [], [], 0
    for entry in sorted(entries, key=lambda entry: entry[5]):
        if (
            entry[3] > BATCH_ENTRY_MAX
            or entry[4] > WHOLE_FILE_MAX
            or entry[1] not in (STORED, DEFLATED)
        ):
            singles.append((entry[3], [entry]))
            continue
        if run and run_bytes + entry[3] > BATCH_BYTES:
            runs.append((run_bytes, run))
            run, run_bytes = [], 0
        run.append(entry)
        run_bytes += entry[3] + 128
    if run:
        runs.append((run_bytes, run))
    return sorted(singles + runs, key=lambda job: job[0], reverse=True)


class Inflater:
    """Streaming decompression of one entry, whatever its method, in bounded pieces.

    Methods (APPNOTE 4.4.5): 0 stored, 8 deflate, 12 bzip2, 14 LZMA. An LZMA entry starts
    with a 4-byte header (version, properties size) and the LZMA1 properties (APPNOTE 5.8.8),
    then raw LZMA1 data, as CPython's zipfile reads it.
    """

    def __init__(self, method, name):
        """Prepare to decompress entry `name`; bz2 and lzma are imported only when needed."""
        self.method = method
        self.name = name
        self.pending = b""
        self.engine = None
        try:
            if method == DEFLATED:
                self.engine = zlib.decompressobj(-15)
            elif method == BZIP2:
                import bz2

                self.engine = bz2.BZ2Decompressor()
            elif method == LZMA:
                import lzma  # noqa: F401 (checked here, used once the header is read)
        except ImportError as error:
            raise Fatal(
                "this Python cannot unpack %s: its %s module is missing (%s)"
                % (name, "bz2" if method == BZIP2 else "lzma", error)
            )

    def feed(self, data):
        """Yield the decompressed pieces of `data` (at most WHOLE_FILE_MAX bytes each)."""
        if self.method == STORED:
            yield data
            return
        if self.method == LZMA and self.engine is None:
            data = self.start_lzma(data)
            if self.engine is None:
                return
        if self.method == DEFLATED:
            while data:
                yield self.engine.decompress(data, WHOLE_FILE_MAX)
                data = self.engine.unconsumed_tail
            return
        yield self.engine.decompress(data, WHOLE_FILE_MAX)
        while not self.engine.eof and not self.engine.needs_input:
            yield self.engine.decompress(b"", WHOLE_FILE_MAX)

    def start_lzma(self, data):
        """Read the LZMA header once enough bytes arrived; return the data after it."""
        import lzma

        self.pending += data
        if len(self.pending) < 4:
            return b""
        (size,) = struct.unpack_from("<H", self.pending, 2)
        if len(self.pending) < 4 + size:
            return b""
        props = self.pending[4 : 4 + size]
        rest = self.pending[4 + size :]
        self.pending = b""
        filters = [lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)]
        self.engine = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters)
        return rest
