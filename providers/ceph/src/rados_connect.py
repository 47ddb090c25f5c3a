# Shared by the Ceph provider's Python programs (the pool reader and the worker), which
# are each run as `python3 -c` with this text in front of their own: reading their command
# line, connecting to the cluster and checking that an RBD namespace exists. The program
# that includes it defines `fail(message, errno)` and `EINVAL`, and imports `rados`, before
# any of these runs.


def errno_of(error):
    return abs(getattr(error, "errno", None) or 1)


def parse_args(argv):
    options = {}
    words = list(argv)
    if not words:
        fail("no pool given", EINVAL)
    pool = words.pop()
    while words:
        flag = words.pop(0)
        if not flag.startswith("--") or not words:
            fail("cannot read the argument %r" % flag, EINVAL)
        options[flag[2:]] = words.pop(0)
    return options, pool


def connect(options):
    cluster = rados.Rados(
        rados_id=options.pop("id", None),
        clustername=options.pop("cluster", "ceph"),
    )
    conf = options.pop("conf", None)
    try:
        cluster.conf_read_file(conf)
    except rados.Error as error:
        fail("error reading config file %s: %s" % (conf or "(default search path)", error), errno_of(error))
    cluster.conf_parse_env()
    for name, value in options.items():
        try:
            cluster.conf_set(name, value)
        except rados.Error as error:
            fail("cannot set %s: %s" % (name, error), errno_of(error))
    timeout = int(float(options.get("client_mount_timeout", "10")))
    try:
        cluster.connect(timeout=timeout)
    except rados.Error as error:
        fail("couldn't connect to the cluster: %s" % error, errno_of(error))
    return cluster


def has_namespace(ioctx, namespace):
    try:
        with rados.ReadOpCtx() as op:
            values, _ = ioctx.get_omap_vals_by_keys(op, ("name_" + namespace,))
            ioctx.operate_read_op(op, "rbd_namespace")
            return any(True for _ in values)
    except rados.ObjectNotFound:
        return False
