#!/usr/bin/env python3
"""Whiteouts for launch/gpu/kit.sh's kit_hide_system (check.sh --cpu, the dry run).

usage: kit_hide.py PREFIX HIDE_DIR

For each file of the packages in PREFIX/usr/share/satunet-kit/hide.txt (dpkg -L) and the
system's copy of each file the kit holds: under /usr a whiteout (a 0/0 character device) at the
same place in HIDE_DIR/upper, the upper layer of the overlay that kit.sh mounts on /usr; under
/etc the directory below /etc that holds it, listed in HIDE_DIR/etc for an empty directory to be
bound over it. HIDE_DIR/hidden lists every path hidden. One process, because Boost's headers
alone are 15000 files.
"""
import os
import subprocess
import sys


def main():
    prefix, hide = sys.argv[1], sys.argv[2]
    paths = set()
    with open(os.path.join(prefix, "usr/share/satunet-kit/hide.txt")) as packages:
        for package in packages.read().split():
            listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
            if listing.returncode:
                print(f"kit: package {package} is not installed here")
            paths.update(line for line in listing.stdout.splitlines() if line.startswith("/"))
    for root, dirs, files in os.walk(prefix):
        relative = os.path.relpath(root, prefix)
        if relative.startswith(("usr/share/satunet-kit", "usr/lib/satunet-kit-runtime")):
            continue
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        for name in files + links:
            paths.add("/" + os.path.normpath(os.path.join(relative, name)))
    hidden, etc_tops = [], set()
    resolved = {}
    for path in sorted(paths):
        directory = os.path.dirname(path)
        if directory not in resolved:
            resolved[directory] = os.path.realpath(directory)
        path = os.path.join(resolved[directory], os.path.basename(path))
        if not os.path.lexists(path) or (os.path.isdir(path) and not os.path.islink(path)):
            continue
        if path.startswith("/usr/"):
            whiteout = os.path.join(hide, "upper", path[len("/usr/"):])
            if os.path.lexists(whiteout):
                continue
            os.makedirs(os.path.dirname(whiteout), exist_ok=True)
            os.mknod(whiteout, 0o600 | 0o020000, os.makedev(0, 0))
            hidden.append(path)
        elif path.startswith("/etc/") and path.count("/") > 2:
            etc_tops.add("/etc/" + path.split("/")[2])
            hidden.append(path)
        else:
            print(f"kit: {path} not hidden (not in a directory under /usr or /etc)")
    with open(os.path.join(hide, "hidden"), "w") as out:
        out.writelines(path + "\n" for path in hidden)
    with open(os.path.join(hide, "etc"), "w") as out:
        out.writelines(top + "\n" for top in sorted(etc_tops))


if __name__ == "__main__":
    main()
