"""netns: a private network of Linux network namespaces for one test.

A Lab makes one "hub" namespace holding a bridge (10.250.0.1/24) and one
namespace per node, each joined to the bridge by a veth pair created inside
the test's own namespaces (never in the host's), with addresses the Lab
assigns. Every name carries the test's PID; close() deletes exactly what
was created, by name. Processes are not owned here: the caller starts them
through its Session (`lab.exec_args(ns, argv)`) and stops them by PID
before close(). Also the two small programs a lab needs, run as
`netns.py relay ...` and `netns.py standin ...` (see main()).
"""
import os
import shutil
import socket
import subprocess
import sys
import threading

SUBNET = "10.250.0"          # /24, lives only inside the lab's namespaces
HUB_ADDR = SUBNET + ".1"
IP = shutil.which("ip") or "/usr/sbin/ip"


def node_addr(i):
    return f"{SUBNET}.{10 + i}"


def _ip(*args, check=True):
    r = subprocess.run([IP] + list(args), capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip() or r.returncode}")
    return r


def unavailable():
    """None if this machine lets us make namespaces, veths and a bridge;
    otherwise the reason, for a skip message."""
    if os.geteuid() != 0:
        return f"network namespaces need root (running as uid {os.geteuid()})"
    if not shutil.which("ip"):
        return "no `ip` command (iproute2) on PATH"
    probe = f"tw-probe-{os.getpid()}"
    try:
        r = _ip("netns", "add", probe, check=False)
        if r.returncode != 0:
            return f"`ip netns add` failed: {r.stderr.strip()}"
        for args in (("link", "add", "br0", "type", "bridge"),
                     ("link", "add", "v0", "type", "veth", "peer", "name", "v1")):
            r = _ip("-n", probe, *args, check=False)
            if r.returncode != 0:
                return f"`ip link add ... type {args[4]}` failed inside a namespace: {r.stderr.strip()}"
        return None
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot run ip: {e}"
    finally:
        _ip("netns", "del", probe, check=False)


class Lab:
    """hub namespace (bridge br0, HUB_ADDR) + n node namespaces (eth0,
    node_addr(i)), each node's cable being the veth `p<i>` on the bridge."""

    def __init__(self, n_nodes, tag="n1"):
        pid = os.getpid()
        self.hub = f"tw-{tag}-{pid}-hub"
        self.nodes = [f"tw-{tag}-{pid}-node{i}" for i in range(n_nodes)]
        self.made_ns = []      # what close() deletes, in creation order
        self.made_links = []   # (namespace, link name)

    def up(self):
        _ip("netns", "add", self.hub)
        self.made_ns.append(self.hub)
        _ip("-n", self.hub, "link", "set", "lo", "up")
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        self.made_links.append((self.hub, "br0"))
        _ip("-n", self.hub, "addr", "add", f"{HUB_ADDR}/24", "dev", "br0")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        for i, ns in enumerate(self.nodes):
            _ip("netns", "add", ns)
            self.made_ns.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            # Both ends are born in our hub namespace; one moves to the node.
            _ip("-n", self.hub, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            self.made_links.append((self.hub, f"p{i}"))
            _ip("-n", self.hub, "link", "set", f"p{i}", "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{node_addr(i)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
        return self

    def exec_args(self, ns, argv):
        """argv run inside namespace ns (ip execs it: same PID)."""
        return [IP, "netns", "exec", ns] + list(argv)

    def cut(self, i):
        """Pull node i's cable: its port on the bridge goes down (the node
        sees carrier loss); nothing in the node is touched."""
        _ip("-n", self.hub, "link", "set", f"p{i}", "down")

    def heal(self, i):
        _ip("-n", self.hub, "link", "set", f"p{i}", "up")

    def link_up(self, i):
        r = _ip("-n", self.hub, "-o", "link", "show", f"p{i}")
        return ",UP" in r.stdout or "<UP" in r.stdout

    def close(self):
        """Delete every link and namespace we made, by name; returns the
        errors (empty when all went). Call after stopping the processes
        that run inside (a namespace with a process in it outlives its name)."""
        errors = []
        for ns, link in reversed(self.made_links):
            r = _ip("-n", ns, "link", "del", link, check=False)
            # Gone already (its peer or namespace went first) is fine.
            if r.returncode != 0 and "Cannot find device" not in r.stderr and "does not exist" not in r.stderr \
                    and "No such file" not in r.stderr:
                errors.append(f"link {link} in {ns}: {r.stderr.strip()}")
        self.made_links.clear()
        for ns in reversed(self.made_ns):
            r = _ip("netns", "del", ns, check=False)
            if r.returncode != 0:
                errors.append(f"netns {ns}: {r.stderr.strip()}")
        self.made_ns.clear()
        left = [ns for ns in [self.hub] + self.nodes if ns in _ip("netns", "list", check=False).stdout.split()]
        errors += [f"netns {ns} still listed" for ns in left]
        return errors


# -- the lab's small programs ---------------------------------------------


def _pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def relay(listen_port, host, port):
    """TCP relay 127.0.0.1:listen_port -> host:port, so a node reaches the
    model API stand-in as https://localhost:PORT (the test certificate's
    name) while the bytes cross the lab network."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(64)
    sys.stderr.write(f"relay 127.0.0.1:{listen_port} -> {host}:{port}\n")
    sys.stderr.flush()
    while True:
        c, _ = srv.accept()
        try:
            u = socket.create_connection((host, port), timeout=5)
            u.settimeout(None)
        except OSError as e:
            sys.stderr.write(f"relay: upstream {host}:{port}: {e}\n")
            c.close()
            continue
        for a, b in ((c, u), (u, c)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def standin(bind, argv):
    """tests/lib/fal_standin.py, listening on `bind` instead of 127.0.0.1
    (inside the hub namespace only: lo and the lab bridge)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import fal_standin
    base = fal_standin.StandinServer

    class Bound(base):
        def __init__(self, addr, *a, **kw):
            super().__init__((bind, addr[1]), *a, **kw)

    fal_standin.StandinServer = Bound
    sys.argv = ["fal_standin.py"] + argv
    return fal_standin.main()


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "relay":
        relay(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "standin":
        return standin(sys.argv[2], sys.argv[3:])
    sys.stderr.write("usage: netns.py relay LISTEN_PORT HOST PORT | netns.py standin BIND_ADDR STANDIN_ARGS...\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
