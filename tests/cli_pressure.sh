#!/usr/bin/env bash
# The budget under real memory pressure (issue 8). In a memory cgroup of its own (v1 or
# v2, limit 320 MiB) frugal generates with a tiny model; once tokens flow, this test's
# driver (a python process in the same cgroup) takes memory, 4 MiB at a time and every
# page touched, until only ~16 MiB of the cgroup is left, and holds it. frugal must stop
# generating with finish reason memory_budget and its one-line reason (exit 0, not
# killed), well before the tokens asked for, and its --memory-report timeline must show
# the run to its end with the refusal counted. The memory taken is bounded by the
# cgroup's limit; the cgroup is removed at the end.
# Skipped (with the reason) where no memory cgroup can be created (no permission, no
# memory controller): the library test test_mem_budget covers the same rule on a fake
# machine.
set -u
frugal=${FG_BIN:?} models=${FG_TEST_MODELS:?}
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
if [ "${FG_SANITIZED:-0}" = 1 ]; then
  echo "skipped: under ASan the shadow memory would fill the cgroup"; exit 0
fi
python3 - "$frugal" "$models/qwen2-tiny-f32.gguf" "$t" <<'PY'
import mmap, os, subprocess, sys, threading, time, json

frugal, model, tmp = sys.argv[1:4]
LIMIT, LEAVE, STEP = 320 << 20, 16 << 20, 4 << 20


def skip(why):
    print("skipped: " + why)
    sys.exit(0)


def find_cgroup():
    """(version, directory of this process's memory cgroup) or None."""
    mounts = open("/proc/self/mountinfo").read().splitlines()
    groups = [l.split(":", 2) for l in open("/proc/self/cgroup").read().splitlines()]
    for line in mounts:
        pre, post = line.split(" - ", 1)
        fields, (fstype, _src, opts) = pre.split(), post.split()[:3]
        root, mnt = fields[3], fields[4]
        if fstype == "cgroup" and "memory" in opts.split(","):
            for _h, ctrl, path in groups:
                if "memory" in ctrl.split(","):
                    rel = path[len(root):] if path.startswith(root) else path
                    d = os.path.join(mnt, rel.lstrip("/"))
                    return (1, d) if os.path.isdir(d) else (1, mnt)
    for line in mounts:
        pre, post = line.split(" - ", 1)
        fields, fstype = pre.split(), post.split()[0]
        if fstype == "cgroup2":
            for h, _c, path in groups:
                if h == "0":
                    d = os.path.join(fields[4], path.lstrip("/"))
                    return (2, d) if os.path.isdir(d) else None
    return None


found = find_cgroup()
if not found:
    skip("no memory cgroup mounted")
ver, parent = found
cg = os.path.join(parent, "frugal-pressure-%d" % os.getpid())
try:
    os.mkdir(cg)
except OSError as e:
    skip("cannot create a memory cgroup under %s (%s)" % (parent, e.strerror))


def put(name, value):
    with open(os.path.join(cg, name), "w") as f:
        f.write(str(value))


def usage():
    with open(os.path.join(cg, "memory.usage_in_bytes" if ver == 1 else "memory.current")) as f:
        return int(f.read())


code = 1
try:
    try:
        if ver == 1:
            put("memory.limit_in_bytes", LIMIT)
        else:
            put("memory.max", LIMIT)
        put("cgroup.procs", os.getpid())
    except OSError as e:
        skip("cannot use the memory cgroup %s (%s)" % (cg, e.strerror))
    for name, value in (("memory.swappiness", 0), ("memory.swap.max", 0)):  # no swap: pressure is real
        try:
            put(name, value)
        except OSError:
            pass

    n_asked = 200000
    p = subprocess.Popen([frugal, "run", model, "-p", "Hello", "-n", str(n_asked), "--ctx", "262144",
                          "--ignore-eos", "--kv-type", "f32", "--memory-report", tmp + "/report.json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = bytearray(), bytearray()
    started = threading.Event()

    def drain(stream, buf, min_bytes):
        while True:
            chunk = stream.read1(4096)
            if not chunk:
                break
            buf += chunk
            if len(buf) >= min_bytes:
                started.set()

    threads = [threading.Thread(target=drain, args=(p.stdout, out, 64), daemon=True),
               threading.Thread(target=drain, args=(p.stderr, err, 1 << 40), daemon=True)]
    for th in threads:
        th.start()
    if not started.wait(60):
        p.kill()
        print("FAIL: frugal produced no tokens in 60 s:", err.decode(errors="replace"))
        sys.exit(1)

    # the pressure: another process (this one) takes the memory frugal's budget assumed
    held = []
    while p.poll() is None and LIMIT - usage() > LEAVE + STEP:
        m = mmap.mmap(-1, STEP)
        for off in range(0, STEP, 4096):
            m[off] = 1
        held.append(m)
    taken = len(held) * STEP
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        print("FAIL: frugal did not stop within 60 s under pressure (%d MiB taken)" % (taken >> 20))
        sys.exit(1)
    for th in threads:
        th.join(5)
    e = err.decode(errors="replace")
    fails = []
    if p.returncode != 0:
        fails.append("frugal exited %d (%s)" % (p.returncode, "killed by signal %d" % -p.returncode
                                                 if p.returncode < 0 else "error"))
    line = [l for l in e.splitlines() if "generation stopped after" in l]
    if not line or "memory_budget" not in line[0] or "is free now" not in line[0]:
        fails.append("no memory_budget stop with its reason on stderr: %r" % e[-400:])
    else:
        n_done = int(line[0].split("generation stopped after ")[1].split()[0])
        if not 0 < n_done < n_asked:
            fails.append("stopped after %d of %d tokens" % (n_done, n_asked))
    try:
        rep = json.load(open(tmp + "/report.json"))
        phases = [m["phase"] for m in rep["marks"]]
        if "decode" not in phases or phases[-1] != "end":
            fails.append("timeline phases %s" % phases)
        if rep["budget"]["refusals"] < 1:
            fails.append("the timeline's budget counted no refusal")
        if not rep["samples"]:
            fails.append("the timeline has no samples")
    except (OSError, ValueError, KeyError) as x:
        fails.append("memory report: %s" % x)
    if fails:
        print("FAIL: " + "; ".join(fails))
    else:
        print("ok: %d MiB taken by another process, frugal stopped: %s" % (taken >> 20, line[0]))
        code = 0
    del held
finally:
    # leave the cgroup (its memory goes with the processes), then remove it
    try:
        with open(os.path.join(parent, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    except OSError:
        pass
    for _ in range(50):
        try:
            os.rmdir(cg)
            break
        except OSError:
            time.sleep(0.1)
sys.exit(code)
PY
