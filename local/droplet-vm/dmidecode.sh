#!/bin/sh
# `dmidecode --string KEY` for cloud-init in a local droplet: the SMBIOS strings of a DigitalOcean
# droplet's VM, which the local cloud writes to smbios/ beside this script (localDroplet.ts).
set -eu
if [ "${1:-}" != --string ] || [ -z "${2:-}" ]; then
  echo "usage: dmidecode --string KEYWORD" >&2
  exit 2
fi
smbios="$(dirname "$(dirname "$0")")/smbios"
case "$2" in
  */* | .*) exit 1 ;;
esac
[ -f "$smbios/$2" ] || exit 1
cat "$smbios/$2"
