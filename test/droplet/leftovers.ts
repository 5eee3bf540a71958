/**
 * What local runs leave on this machine: listed before a run (once what earlier, killed runs left
 * is swept) and after it (or its interruption), it must be the same. Everything the harness sets
 * up is listed: network namespaces, links, routes and addresses, nftables tables, network slots,
 * ip_forward, containers and the services beside them, mounts, swap, loop devices and cgroups.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { CGROUP_PREFIX, sweepAbandonedCgroups } from "../../local/localDroplet";
import { SLOT_MARKS, sweepAbandonedSlots } from "../../local/network";
import { METADATA_IP } from "../../local/metadata";
import { run } from "../../local/process";

const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean);

/** A sorted list of what is there now, one entry a thing (empty when nothing local runs). */
export function leftovers(): string[] {
  const found: string[] = [];
  const add = (kind: string, items: string[]) => found.push(...items.map((item) => `${kind}: ${item}`));
  add("netns", lines(run("ip", ["netns", "list"]).stdout).map((l) => l.split(" ")[0]).filter((n) => n.startsWith(SLOT_MARKS.namePrefix)));
  add("link", lines(run("ip", ["-o", "link", "show"]).stdout).map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? "").filter((n) => n.startsWith(SLOT_MARKS.namePrefix)));
  add("route", lines(run("ip", ["route", "show"]).stdout).filter((l) => SLOT_MARKS.address.test(l)));
  add("address", lines(run("ip", ["-o", "addr", "show", "dev", "lo"]).stdout).filter((l) => SLOT_MARKS.address.test(l) || l.includes(` ${METADATA_IP}/`)).map((l) => l.split(/\s+/)[3]));
  add("nft table", lines(run("nft", ["list", "tables"]).stdout).filter((l) => l.includes(SLOT_MARKS.natTablePrefix) || l.includes(SLOT_MARKS.cloudTablePrefix)));
  add("slot", fs.existsSync(SLOT_MARKS.dir) ? fs.readdirSync(SLOT_MARKS.dir) : []);
  add("ip_forward", [fs.readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()]);
  add("process", lines(run("ps", ["-eo", "pid=,args="]).stdout)
    .filter((l) => (/systemd-nspawn|pebble|moto_server/.test(l) || (/dnsmasq .*--listen-address=/.test(l) && SLOT_MARKS.address.test(l))) && !/\bps -eo\b/.test(l)));
  add("mount", lines(fs.readFileSync("/proc/mounts", "utf8")).map((l) => l.split(" ")[1]).filter((m) => /matrix-|\/local\//.test(m)));
  add("swap", lines(fs.readFileSync("/proc/swaps", "utf8")).slice(1).map((l) => l.split(/\s+/)[0]));
  add("loop", lines(run("losetup", ["--list", "--noheadings", "--output", "BACK-FILE"]).stdout).filter((f) => f.includes("matrix")));
  for (const controller of ["memory", "cpuset"]) {
    const dir = `/sys/fs/cgroup/${controller}`;
    add(`cgroup ${controller}`, fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.startsWith(CGROUP_PREFIX)) : []);
  }
  return found.sort();
}

/**
 * What is there before a run: first cleared of what runs that are gone left (their slots,
 * containers and cgroups; the run under test would sweep them itself, or could reuse a slot of
 * theirs and hide its own leftovers among them).
 */
export function leftoversBefore(): string[] {
  sweepAbandonedSlots();
  sweepAbandonedCgroups();
  return leftovers();
}

/** Nothing is left now that was not there `before` (from leftoversBefore), and nothing gone either. */
export function assertNothingLeft(before: string[], message = "left behind"): void {
  assert.deepEqual(leftovers(), before, message);
}

/** The droplets were powered off cleanly, each before the network went. */
export function assertPoweredOffFirst(steps: string[]): void {
  const droplets = steps.filter((s) => s.startsWith("droplet "));
  assert.ok(droplets.length > 0, `no droplet in the teardown: ${steps.join("\n")}`);
  for (const d of droplets) assert.match(d, /powered off cleanly in [\d.]+ s, root removed/);
  const network = steps.findIndex((s) => s.startsWith("local network "));
  assert.ok(network > steps.indexOf(droplets[droplets.length - 1]), `the network went before a droplet:\n${steps.join("\n")}`);
}
