#!/usr/bin/python3
"""Apply a new payload (the #cloud-config document, on stdin) to this running droplet.

`pulumi up` runs this over SSH when the rendered payload changes, instead of replacing the
droplet. It does what cloud-init did at first boot, for the modules the payload uses:
rewrites the files whose content or mode changed, installs packages that are missing, and
runs the bootstrap again, which restarts only the services whose files changed.

  apply-config.py --unpack BUNDLE   write the files of the payload's bundle (userData.ts) that
                                    changed; the payload's first command, at boot and here.
"""
import base64
import gzip
import json
import os
import subprocess
import sys
import tempfile

import yaml


def write_file(entry):
    """Write one write_files entry atomically; True when something changed."""
    path, content = entry["path"], entry.get("content", "").encode()
    if entry.get("encoding") == "gz+b64":
        content = gzip.decompress(base64.b64decode(content))
    mode = int(str(entry.get("permissions", "0644")), 8)
    try:
        with open(path, "rb") as f:
            same = f.read() == content and (os.stat(path).st_mode & 0o7777) == mode
    except FileNotFoundError:
        same = False
    if same:
        return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".matrix-do-")
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, 0, 0)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        # Keep the group a script gave the old file (e.g. synapse may read its secrets).
        if os.path.exists(path):
            os.chown(tmp, 0, os.stat(path).st_gid)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True


def unpack(bundle):
    """Write the bundle's files that changed (the payload runs this before the bootstrap)."""
    with open(bundle, encoding="utf-8") as f:
        entries = json.load(f)
    changed = [entry["path"] for entry in entries if write_file(entry)]
    print(f"apply-config: {len(changed)} bundled file(s) changed" + "".join(f"\n  {p}" for p in changed), file=sys.stderr)
    return 0


def missing_packages(packages):
    missing = []
    for name in packages:
        query = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        if query.stdout.strip() != "install ok installed":
            missing.append(name)
    return missing


def main():
    if sys.argv[1:2] == ["--unpack"] and len(sys.argv) == 3:
        return unpack(sys.argv[2])
    document = yaml.safe_load(sys.stdin)
    if not isinstance(document, dict) or "write_files" not in document:
        print("apply-config: stdin is not the matrix-do #cloud-config payload", file=sys.stderr)
        return 2
    # Files first, as cloud-init does: a package's service then starts with our drop-ins.
    changed = [entry["path"] for entry in document["write_files"] if write_file(entry)]
    print(f"apply-config: {len(changed)} file(s) changed" + "".join(f"\n  {p}" for p in changed), file=sys.stderr)
    missing = missing_packages(document.get("packages", []))
    if missing:
        print(f"apply-config: installing {' '.join(missing)}", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env, stdout=subprocess.DEVNULL)
    for command in document.get("runcmd", []):
        subprocess.run(command, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
