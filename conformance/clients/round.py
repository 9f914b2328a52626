"""A full round of a Python memcached client's own API against one server.

usage: round.py [--tls-ca=CAFILE] pymemcache|pylibmc HOST PORT [binary] PREFIX
With --tls-ca (pymemcache only), the client speaks TLS through an ssl.SSLContext that
trusts CAFILE.
Exits 0 when every call answered as memcached answers it; raises otherwise.
"""

import sys

LARGE = 1024 * 1024 - 512  # just under the default item size limit
BINARY = bytes(range(256)) * 4 + b"\r\nEND\r\n\x00"


def check(label, got, want):
    if got != want:
        raise AssertionError(f"{label}: got {got!r}, want {want!r}")


def pymemcache_round(host, port, prefix, tls_ca=None):
    from pymemcache.client.base import Client

    tls_context = None
    if tls_ca is not None:
        import ssl

        tls_context = ssl.create_default_context(cafile=tls_ca)
    c = Client((host, port), connect_timeout=5, timeout=20, default_noreply=False, tls_context=tls_context)
    k = lambda name: f"{prefix}{name}"
    check("set", c.set(k("a"), b"alpha"), True)
    check("get", c.get(k("a")), b"alpha")
    check("get missing", c.get(k("missing")), None)
    check("set empty", c.set(k("empty"), b""), True)
    check("get empty", c.get(k("empty")), b"")
    check("set binary", c.set(k("bin"), BINARY), True)
    check("get binary", c.get(k("bin")), BINARY)
    check("set large", c.set(k("large"), b"L" * LARGE), True)
    check("get large", c.get(k("large")), b"L" * LARGE)
    check("get_many", c.get_many([k("a"), k("missing"), k("empty")]), {k("a"): b"alpha", k("empty"): b""})
    check("add existing", c.add(k("a"), b"x"), False)
    check("add new", c.add(k("b"), b"beta"), True)
    check("replace", c.replace(k("b"), b"BETA"), True)
    check("replace missing", c.replace(k("nope"), b"x"), False)
    check("append", c.append(k("b"), b"!"), True)
    check("prepend", c.prepend(k("b"), b"<"), True)
    check("get after append", c.get(k("b")), b"<BETA!")
    value, token = c.gets(k("b"))
    check("gets value", value, b"<BETA!")
    check("cas ok", c.cas(k("b"), b"new", token), True)
    check("cas stale", c.cas(k("b"), b"newer", token), False)
    check("cas missing", c.cas(k("nope"), b"x", token), None)
    check("set number", c.set(k("n"), b"10"), True)
    check("incr", c.incr(k("n"), 5), 15)
    check("decr", c.decr(k("n"), 20), 0)
    check("incr missing", c.incr(k("nope"), 1), None)
    check("touch", c.touch(k("a"), 100), True)
    check("touch missing", c.touch(k("nope"), 100), False)
    check("delete", c.delete(k("a")), True)
    check("delete missing", c.delete(k("a")), False)
    check("get deleted", c.get(k("a")), None)
    check("version", c.version().startswith(b"1.6"), True)
    stats = c.stats()
    check("stats has curr_items", b"curr_items" in stats, True)
    c.close()


def pylibmc_round(host, port, binary, prefix):
    import pylibmc

    c = pylibmc.Client([f"{host}:{port}"], binary=binary, behaviors={"cas": True})
    k = lambda name: f"{prefix}{name}"
    check("set", c.set(k("a"), b"alpha"), True)
    check("get", c.get(k("a")), b"alpha")
    check("get missing", c.get(k("missing")), None)
    check("set empty", c.set(k("empty"), b""), True)
    check("get empty", c.get(k("empty")), b"")
    check("set binary", c.set(k("bin"), BINARY), True)
    check("get binary", c.get(k("bin")), BINARY)
    check("set large", c.set(k("large"), b"L" * LARGE), True)
    check("get large", c.get(k("large")), b"L" * LARGE)
    check("get_multi", c.get_multi([k("a"), k("missing"), k("empty")]), {k("a"): b"alpha", k("empty"): b""})
    check("add existing", c.add(k("a"), b"x"), False)
    check("add new", c.add(k("b"), b"beta"), True)
    check("replace", c.replace(k("b"), b"BETA"), True)
    if binary:
        # The binary protocol reports a missing key, which pylibmc raises.
        try:
            c.replace(k("nope"), b"x")
            raise AssertionError("replace missing: no error")
        except pylibmc.NotFound:
            pass
    else:
        check("replace missing", c.replace(k("nope"), b"x"), False)
    check("append", c.append(k("b"), b"!"), True)
    check("prepend", c.prepend(k("b"), b"<"), True)
    check("get after append", c.get(k("b")), b"<BETA!")
    value, token = c.gets(k("b"))
    check("gets value", value, b"<BETA!")
    check("cas ok", c.cas(k("b"), b"new", token), True)
    check("cas stale", c.cas(k("b"), b"newer", token), False)
    check("set number", c.set(k("n"), 10), True)
    check("incr", c.incr(k("n"), 5), 15)
    check("decr", c.decr(k("n"), 20), 0)
    try:
        c.incr(k("nope"), 1)
        raise AssertionError("incr missing: no error")
    except pylibmc.NotFound:
        pass
    check("touch", c.touch(k("a"), 100), True)
    check("touch missing", c.touch(k("nope"), 100), False)
    check("set_multi", c.set_multi({k("m1"): b"1", k("m2"): b"2"}), [])
    check("get_multi after set_multi", c.get_multi([k("m1"), k("m2")]), {k("m1"): b"1", k("m2"): b"2"})
    check("delete", c.delete(k("a")), True)
    check("delete missing", c.delete(k("a")), False)
    check("delete_multi", c.delete_multi([k("m1"), k("m2")]), True)
    check("get deleted", c.get(k("a")), None)
    stats = c.get_stats()
    check("stats has curr_items", "curr_items" in stats[0][1], True)


def main():
    tls_ca = None
    if sys.argv[1].startswith("--tls-ca="):
        tls_ca = sys.argv.pop(1)[len("--tls-ca="):]
    lib, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    binary = len(sys.argv) > 5 and sys.argv[4] == "binary"
    prefix = sys.argv[-1]
    if lib == "pymemcache":
        pymemcache_round(host, port, prefix, tls_ca)
    elif lib == "pylibmc":
        pylibmc_round(host, port, binary, prefix)
    else:
        raise SystemExit(f"unknown client {lib}")
    print("round ok")


if __name__ == "__main__":
    main()
