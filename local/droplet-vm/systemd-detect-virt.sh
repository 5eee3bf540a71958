#!/bin/sh
# systemd-detect-virt for cloud-init in a local droplet: a droplet is a KVM virtual machine, not a
# container (localDroplet.ts).
quiet=
container=
for arg in "$@"; do
  case "$arg" in
    -q | --quiet) quiet=1 ;;
    -c | --container) container=1 ;;
  esac
done
if [ -n "$container" ]; then answer=none status=1; else answer=kvm status=0; fi
[ -n "$quiet" ] || echo "$answer"
exit "$status"
