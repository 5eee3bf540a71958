/**
 * A pristine Debian 13 root for the local droplet, made once with debootstrap and cached as
 * a tarball under .cache/ (each boot untars a fresh copy).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { run } from "./process";
import { onTeardown } from "./teardown";
import { PACKAGE_ROOT as ROOT } from "../cloud-init/assets";

/** What a DigitalOcean Debian 13 image has that the payload relies on. */
export const ROOTFS_PACKAGES = [
  "systemd", "systemd-sysv", "dbus", "cloud-init", "python3-cffi-backend", "openssh-server", "iproute2",
  "ca-certificates", "util-linux", "procps", "curl",
];
const SUITE = "trixie";
const MIRROR = "http://deb.debian.org/debian";

export function rootfsTarball(): string {
  const key = crypto.createHash("sha256").update(`${SUITE} ${MIRROR} ${ROOTFS_PACKAGES.join(",")}`).digest("hex").slice(0, 12);
  return path.join(ROOT, ".cache", "rootfs", `${SUITE}-${key}.tar`);
}

/** The cached tarball, made now if missing (about a minute). */
export function ensureRootfs(log: (line: string) => void = () => {}): string {
  const tarball = rootfsTarball();
  if (fs.existsSync(tarball)) return tarball;
  fs.mkdirSync(path.dirname(tarball), { recursive: true });
  // Built under names of this process's own, then renamed into place: two runs started together
  // (two `npm run local`) each build a whole one, and the tarball is never half written.
  const work = `${tarball}.${process.pid}.d`;
  const partial = `${tarball}.${process.pid}.partial`;
  const untrack = onTeardown({ what: `rootfs build ${work}`, now: () => [work, partial].forEach((p) => fs.rmSync(p, { recursive: true, force: true })) });
  const started = Date.now();
  log(`debootstrap ${SUITE} into ${work}`);
  const r = run("debootstrap", ["--variant=minbase", `--include=${ROOTFS_PACKAGES.join(",")}`, SUITE, work, MIRROR]);
  if (r.code !== 0) throw new Error(`debootstrap failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  const t = run("tar", ["-C", work, "-cf", partial, "."]);
  if (t.code !== 0) throw new Error(`tar failed: ${t.stderr}`);
  fs.renameSync(partial, tarball);
  fs.rmSync(work, { recursive: true, force: true });
  untrack();
  log(`rootfs cached in ${Math.round((Date.now() - started) / 1000)} s: ${tarball}`);
  return tarball;
}
