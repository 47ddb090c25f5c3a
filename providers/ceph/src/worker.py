# The Ceph provider's worker: one connection to the cluster (librados and librbd through
# the Python bindings the `ceph` command itself is written with) that carries every image
# operation of a provider for a whole run, so that no step pays the start-up and
# connection set-up of an `rbd` process.
#
# Usage: python3 -c SCRIPT [--cluster NAME] [--conf PATH] [--id USER]
#                          [--namespace NAMESPACE] [--OPTION VALUE ...] POOL
# Connects, opens the pool (and namespace) and prints {"ready": true}; a failure to get
# there prints one line to stderr and exits with its errno, as the rbd command does.
# Then it answers requests, one JSON object per line on stdin,
#   {"id": N, "op": NAME, ...arguments}
# with one JSON object per line on stdout, in the order the calls finish (they run
# concurrently, each on a thread of its own while librbd works):
#   {"id": N, "ok": RESULT}  or  {"id": N, "errno": ERRNO, "message": TEXT}
# End of stdin (blockform is gone) ends the process at once, whatever is in flight.

import calendar
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

try:
    import rados
    import rbd
except ImportError as error:
    sys.stderr.write(
        "blockform ceph worker: cannot import the Python `rados` and `rbd` modules that come with "
        "the `ceph` command (Debian packages python3-rados and python3-rbd): %s\n" % error
    )
    sys.exit(1)

ENOENT = 2
EINVAL = 22
# More than any --parallelism asks for at once; idle threads cost nothing.
THREADS = 32


def fail(message, errno):
    sys.stderr.write("blockform ceph worker: %s\n" % message)
    sys.stderr.flush()
    os._exit(errno or 1)


class Worker:
    def __init__(self, cluster, ioctx):
        self.cluster = cluster
        self.ioctx = ioctx
        self.rbd = rbd.RBD()
        # Contexts of other pools and namespaces, for clones that live elsewhere.
        self.others = {}
        self.others_lock = threading.Lock()

    def context(self, request):
        pool = request.get("pool")
        if pool is None:
            return self.ioctx
        namespace = request.get("namespace") or ""
        with self.others_lock:
            key = (pool, namespace)
            if key not in self.others:
                ioctx = self.cluster.open_ioctx(pool)
                ioctx.set_namespace(namespace)
                self.others[key] = ioctx
            return self.others[key]

    def stat(self, request):
        snapshot = request.get("snapshot")
        with rbd.Image(self.ioctx, request["image"], snapshot=snapshot, read_only=True) as image:
            answer = {"size": image.size()}
            if snapshot is not None:
                return answer
            snapshots = []
            for entry in image.list_snaps():
                name = entry["name"]
                taken = image.get_snap_timestamp(entry["id"])
                snapshots.append(
                    {
                        "id": entry["id"],
                        "name": name,
                        "size": entry["size"],
                        "protected": image.is_protected_snap(name),
                        "created_at_unix_secs": calendar.timegm(taken.utctimetuple()) if taken else 0,
                    }
                )
            answer["snapshots"] = snapshots
            answer["parent"] = parent_of(image)
            if request.get("meta"):
                answer["meta"] = dict(image.metadata_list())
            return answer

    def create(self, request):
        self.rbd.create(self.ioctx, request["image"], request["size"], old_format=False)

    def resize(self, request):
        with rbd.Image(self.ioctx, request["image"]) as image:
            image.resize(request["size"], allow_shrink=False)

    def remove(self, request):
        self.rbd.remove(self.ioctx, request["image"])

    def rename(self, request):
        self.rbd.rename(self.ioctx, request["image"], request["to"])

    def snap_create(self, request):
        with rbd.Image(self.ioctx, request["image"]) as image:
            image.create_snap(request["snapshot"])

    def snap_protect(self, request):
        with rbd.Image(self.ioctx, request["image"]) as image:
            image.protect_snap(request["snapshot"])

    def snap_unprotect(self, request):
        with rbd.Image(self.ioctx, request["image"]) as image:
            image.unprotect_snap(request["snapshot"])

    def snap_remove(self, request):
        with rbd.Image(self.ioctx, request["image"]) as image:
            image.remove_snap(request["snapshot"])

    def clone(self, request):
        self.rbd.clone(self.ioctx, request["image"], request["snapshot"], self.ioctx, request["to"])

    def flatten(self, request):
        with rbd.Image(self.context(request), request["image"]) as image:
            image.flatten()

    def children(self, request):
        with rbd.Image(self.ioctx, request["image"], snapshot=request["snapshot"], read_only=True) as image:
            return [
                {"pool": child["pool"], "pool_namespace": child["pool_namespace"], "image": child["image"]}
                for child in image.list_children2()
                if not child.get("trash")
            ]

    def meta_set(self, request):
        with rbd.Image(self.ioctx, request["image"]) as image:
            image.metadata_set(request["key"], request["value"])

    def meta_remove(self, request):
        with rbd.Image(self.ioctx, request["image"]) as image:
            image.metadata_remove(request["key"])


def parent_of(image):
    try:
        spec = image.get_parent_image_spec()
    except rbd.ImageNotFound:
        return None
    return {
        "pool": spec["pool_name"],
        "pool_namespace": spec["pool_namespace"],
        "image": spec["image_name"],
        "snapshot": spec["snap_name"],
    }


OPERATIONS = {
    name: getattr(Worker, name)
    for name in (
        "stat",
        "create",
        "resize",
        "remove",
        "rename",
        "snap_create",
        "snap_protect",
        "snap_unprotect",
        "snap_remove",
        "clone",
        "flatten",
        "children",
        "meta_set",
        "meta_remove",
    )
}


def main():
    options, pool = parse_args(sys.argv[1:])
    namespace = options.pop("namespace", None)
    cluster = connect(options)
    try:
        ioctx = cluster.open_ioctx(pool)
    except rados.Error as error:
        fail("error opening pool '%s': (%d) %s" % (pool, errno_of(error), error), errno_of(error))
    if namespace:
        # librbd would create images in a namespace that does not exist; rbd refuses.
        if not has_namespace(ioctx, namespace):
            fail("namespace '%s' does not exist." % namespace, ENOENT)
        ioctx.set_namespace(namespace)
    worker = Worker(cluster, ioctx)

    out = sys.stdout
    out_lock = threading.Lock()

    def send(answer):
        line = json.dumps(answer, separators=(",", ":")) + "\n"
        with out_lock:
            out.write(line)
            out.flush()

    def answer(request):
        number = request.get("id")
        try:
            operation = OPERATIONS.get(request.get("op"))
            if operation is None:
                send({"id": number, "errno": EINVAL, "message": "no operation %r" % request.get("op")})
                return
            send({"id": number, "ok": operation(worker, request)})
        except (rbd.Error, rados.Error) as error:
            send({"id": number, "errno": errno_of(error), "message": str(error)})
        except Exception as error:  # a defect of this program: reported, not fatal
            send({"id": number, "errno": EINVAL, "message": "%s: %s" % (type(error).__name__, error)})

    send({"ready": True})
    executor = ThreadPoolExecutor(max_workers=THREADS)
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            # blockform is gone: nobody waits for an answer.
            os._exit(0)
        if line.strip():
            executor.submit(answer, json.loads(line))


main()
