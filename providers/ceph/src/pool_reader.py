# Reads every RBD image of a pool in one process: the pool's directory object
# (`rbd_directory`, image names to ids) and each image's header object
# (`rbd_header.ID`: size, snapshots, image metadata and per-image settings), with
# librados through the Python binding the `ceph` command itself is written with.
# `rbd ls -l` opens every image instead, which costs milliseconds of CPU each.
#
# Usage: python3 -c SCRIPT [--cluster NAME] [--conf PATH] [--id USER]
#                          [--namespace NAMESPACE] [--OPTION VALUE ...] POOL
# Prints one JSON object per line and image: {"image": NAME, "omap": {KEY: HEX}}
# with the header keys `size`, `snapshot_*` and `metadata_*`; the values are the
# raw bytes RBD stores, decoded by the provider. An image removed while the pool
# is being read is left out. Any other failure prints one line to stderr and
# exits with its errno, as the rbd command does.

import json
import sys
import threading

try:
    import rados
except ImportError as error:
    sys.stderr.write(
        "blockform pool reader: cannot import the Python `rados` module that comes with the "
        "`ceph` command (Debian package python3-rados): %s\n" % error
    )
    sys.exit(1)

ENOENT = 2
EINVAL = 22
KEYS_PER_READ = 1024
IN_FLIGHT = 64
WANTED = ("size", "snapshot_", "metadata_")


def fail(message, errno):
    sys.stderr.write("blockform pool reader: %s\n" % message)
    sys.stdout.flush()
    sys.exit(errno or 1)


def read_all(ioctx, oid, prefix, first_after=""):
    """Every omap entry of `oid` whose key starts with `prefix`, in key order."""
    entries = []
    after = first_after
    while True:
        with rados.ReadOpCtx() as op:
            values, _ = ioctx.get_omap_vals(op, after, prefix, KEYS_PER_READ)
            ioctx.operate_read_op(op, oid)
            batch = list(values)
        entries.extend(batch)
        if len(batch) < KEYS_PER_READ:
            return entries
        after = batch[-1][0]


def image_ids(ioctx):
    try:
        entries = read_all(ioctx, "rbd_directory", "name_")
    except rados.ObjectNotFound:
        return {}
    # The value is an encoded string: a little-endian u32 length, then the id.
    return {key[len("name_"):]: value[4:].decode() for key, value in entries}


def read_headers(ioctx, ids):
    lock = threading.Condition()
    state = {"in_flight": 0}
    finished = []

    def start(name, image_id):
        op = ioctx.create_read_op()
        values, _ = ioctx.get_omap_vals(op, "", "", KEYS_PER_READ)

        def done(completion):
            with lock:
                finished.append((name, image_id, completion.get_return_value(), values, op))
                state["in_flight"] -= 1
                lock.notify()

        with lock:
            while state["in_flight"] >= IN_FLIGHT:
                lock.wait()
            state["in_flight"] += 1
        ioctx.operate_aio_read_op(op, "rbd_header." + image_id, oncomplete=done)

    for name, image_id in ids.items():
        start(name, image_id)
    with lock:
        while state["in_flight"]:
            lock.wait()

    out = sys.stdout
    for name, image_id, result, values, op in finished:
        if result == -ENOENT:
            ioctx.release_read_op(op)
            continue
        if result < 0:
            fail("error reading the header of image %s (rbd_header.%s): errno %d" % (name, image_id, -result), -result)
        entries = list(values)
        ioctx.release_read_op(op)
        if len(entries) == KEYS_PER_READ:
            try:
                entries.extend(read_all(ioctx, "rbd_header." + image_id, "", entries[-1][0]))
            except rados.ObjectNotFound:
                continue
        omap = {key: value.hex() for key, value in entries if key.startswith(WANTED)}
        out.write(json.dumps({"image": name, "omap": omap}, separators=(",", ":")))
        out.write("\n")


def main():
    options, pool = parse_args(sys.argv[1:])
    namespace = options.pop("namespace", None)
    cluster = connect(options)
    try:
        try:
            ioctx = cluster.open_ioctx(pool)
        except rados.Error as error:
            fail("error opening pool '%s': (%d) %s" % (pool, errno_of(error), error), errno_of(error))
        if namespace:
            # A namespace that does not exist would read as an empty one: every volume would
            # look deleted. The pool's `rbd_namespace` object lists the namespaces.
            if not has_namespace(ioctx, namespace):
                fail("namespace '%s' does not exist." % namespace, ENOENT)
            ioctx.set_namespace(namespace)
        try:
            read_headers(ioctx, image_ids(ioctx))
        except rados.Error as error:
            fail("error reading pool '%s': %s" % (pool, error), errno_of(error))
        ioctx.close()
    finally:
        cluster.shutdown()


main()
