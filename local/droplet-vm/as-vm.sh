#!/bin/sh
# Run a command (cloud-init) so that it does not see the container a local droplet is: PID 1's
# environment (container=systemd-nspawn) reads empty. In a mount namespace of its own, where only
# /proc is private: the mounts the payload makes (the volume, its state directories) still reach
# the whole droplet, as they do on a DigitalOcean droplet. The same process goes on (exec), so
# systemd's readiness notification still comes from the service's main process.
set -eu
here=$(dirname "$(dirname "$0")")
# shellcheck disable=SC2016 # the inner shell expands them
exec unshare --mount --propagation unchanged -- sh -c '
  mount --make-private /proc
  mount --bind "$0/empty" /proc/1/environ
  exec "$@"
' "$here" "$@"
