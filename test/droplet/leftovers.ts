/**
 * What local runs leave on this machine: compared before and after a run (or its interruption),
 * it must be the same. Everything the harness sets up is listed: network namespaces, links,
 * routes and addresses, nftables tables, network slots, ip_forward, containers and the services
 * beside them, mounts, swap, loop devices and cgroups.
 */
import * as fs from "node:fs";
import { run } from "../../local/process";

const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean);

/** A sorted list of what is there now, one entry a thing (empty when nothing local runs). */
export function leftovers(): string[] {
  const found: string[] = [];
  const add = (kind: string, items: string[]) => found.push(...items.map((item) => `${kind}: ${item}`));
  add("netns", lines(run("ip", ["netns", "list"]).stdout).map((l) => l.split(" ")[0]).filter((n) => n.startsWith("mdo")));
  add("link", lines(run("ip", ["-o", "link", "show"]).stdout).map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? "").filter((n) => n.startsWith("mdo")));
  add("route", lines(run("ip", ["route", "show"]).stdout).filter((l) => /\b10\.2\d\d\./.test(l)));
  add("address", lines(run("ip", ["-o", "addr", "show", "dev", "lo"]).stdout).filter((l) => /\b(10\.2\d\d\.|169\.254\.169\.254)/.test(l)).map((l) => l.split(/\s+/)[3]));
  add("nft table", lines(run("nft", ["list", "tables"]).stdout).filter((l) => l.includes("matrix_do")));
  add("slot", fs.existsSync("/run/matrix-do-local") ? fs.readdirSync("/run/matrix-do-local") : []);
  add("ip_forward", [fs.readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()]);
  add("process", lines(run("ps", ["-eo", "pid=,args="]).stdout)
    .filter((l) => /systemd-nspawn|dnsmasq .*--listen-address=10\.2|pebble|moto_server/.test(l) && !/\bps -eo\b/.test(l)));
  add("mount", lines(fs.readFileSync("/proc/mounts", "utf8")).map((l) => l.split(" ")[1]).filter((m) => /matrix-|\/local\//.test(m)));
  add("swap", lines(fs.readFileSync("/proc/swaps", "utf8")).slice(1).map((l) => l.split(/\s+/)[0]));
  add("loop", lines(run("losetup", ["--list", "--noheadings", "--output", "BACK-FILE"]).stdout).filter((f) => f.includes("matrix")));
  for (const controller of ["memory", "cpuset"]) {
    const dir = `/sys/fs/cgroup/${controller}`;
    add(`cgroup ${controller}`, fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.startsWith("matrix-do-")) : []);
  }
  return found.sort();
}
