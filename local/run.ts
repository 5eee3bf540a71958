/**
 * `npm run local`: try the server before paying for a droplet. Boots the payload your stack
 * would deploy — same renderer, your stack's config — on a local stand-in for the droplet
 * (Debian 13 under systemd-nspawn with real cloud-init), with certificates from Caddy's own
 * local CA instead of Let's Encrypt. Prints the addresses and the admin login; Ctrl-C stops it.
 *
 *   sudo npm run local -- [--stack NAME]       (Linux, as root; reads Pulumi.<NAME>.yaml)
 *
 * Secrets are generated locally and kept with the data in .cache/local/<stack>/, so the next
 * run finds the same server; delete that directory to start afresh.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { PlainArgs, resolveArgs } from "../components/settings";
import { PACKAGE_ROOT } from "../cloud-init/assets";
import { Secrets } from "../cloud-init/settings";
import { renderUserData } from "../cloud-init/userData";
import { LocalDroplet } from "./localDroplet";
import { LocalNetwork } from "./network";
import { ensureRootfs } from "./rootfs";
import { waitUntil } from "./process";
import { hostCaCertificates, newSecrets } from "./secrets";

const PROJECT = "matrix-do";

/** The stack's plain config values (secret ones are left out: they stay in Pulumi). */
export function readStackConfig(projectDir: string, stack?: string): { stack: string; args: PlainArgs } {
  const files = fs.readdirSync(projectDir).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f));
  const name = stack ?? (files.length === 1 ? files[0].split(".")[1] : undefined);
  if (!name) throw new Error(`name the stack: --stack NAME (found ${files.join(", ") || "no Pulumi.<stack>.yaml"})`);
  const file = path.join(projectDir, `Pulumi.${name}.yaml`);
  if (!fs.existsSync(file)) throw new Error(`${file} not found`);
  const config = (YAML.parse(fs.readFileSync(file, "utf8"))?.config ?? {}) as Record<string, unknown>;
  const args: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (!key.startsWith(`${PROJECT}:`) || (typeof value === "object" && value !== null && "secure" in value)) continue;
    const setting = key.slice(PROJECT.length + 1);
    // Pulumi keeps numbers and booleans as strings in stack files.
    args[setting] = value === "true" ? true : value === "false" ? false : typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  }
  return { stack: name, args: args as unknown as PlainArgs };
}

/** Secrets made once and kept beside the local volume, so the next run is the same server. */
export function localSecrets(file: string): Secrets {
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, "utf8")) as Secrets;
  const secrets = newSecrets();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run it as root (it boots a container and sets up its network)");
  const stackFlag = process.argv.indexOf("--stack");
  const { stack, args } = readStackConfig(process.cwd(), stackFlag > 0 ? process.argv[stackFlag + 1] : undefined);
  const home = path.join(PACKAGE_ROOT, ".cache", "local", stack);
  const secrets = localSecrets(path.join(home, "secrets.json"));
  const { settings } = resolveArgs({
    ...args,
    acmeServer: "internal", // nobody outside can reach this server: Caddy's own CA signs
    extraCaCertificates: [...(args.extraCaCertificates ?? []), ...hostCaCertificates()], // this machine's proxies, if any
  });

  const log = (line: string) => console.log(`local: ${line}`);
  const rootfs = ensureRootfs(log);
  const network = LocalNetwork.create();
  const address = network.addHost(1);
  const names = [settings.serverName, settings.matrixHost, settings.elementHost];
  await network.serveDns(address, {
    zones: [settings.serverName],
    hosts: Object.fromEntries(names.map((n) => [n, address.ip])),
    srv: [],
  });
  const droplet = new LocalDroplet({
    name: "matrix-local",
    rootfs,
    workDir: path.join(home, "root"),
    volumeDir: path.join(home, "volume"),
    userData: renderUserData(settings, secrets),
    instanceId: `local-${crypto.createHash("sha256").update(JSON.stringify(settings)).digest("hex").slice(0, 12)}`,
    resolvConf: network.resolvConf(address),
    network: address,
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log("stopping…");
    await droplet.poweroff();
    droplet.destroy();
    await network.close();
    log(`stopped; the data stays in ${path.join(home, "volume")}`);
    process.exit(0);
  };
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());

  log(`booting the payload for ${settings.serverName} (stack ${stack})…`);
  const started = Date.now();
  await droplet.boot();
  const status = await droplet.waitForCloudInit(30 * 60_000);
  if (![0, 2].includes(status.code)) {
    console.error(droplet.cloudInitOutput(80));
    throw new Error("the first boot failed (cloud-init output above)");
  }
  const caFile = path.join(home, "volume", "caddy", ".local", "share", "caddy", "pki", "authorities", "local", "root.crt");
  await waitUntil("Caddy's local certificate authority", 120, () => fs.existsSync(caFile));
  log(`ready in ${Math.round((Date.now() - started) / 1000)} s`);
  console.log(
    [
      "",
      `  Element:        https://${settings.elementHost}`,
      `  Homeserver:     https://${settings.matrixHost}`,
      `  Admin:          @${settings.adminUser}:${settings.serverName}`,
      `  Password:       ${secrets.adminPassword}`,
      `  Address:        ${address.ip}`,
      `  CA certificate: ${caFile}`,
      "",
      `  To open it in a browser on this machine, add to /etc/hosts:`,
      `    ${address.ip} ${names.join(" ")}`,
      `  and trust the CA certificate (or accept the browser's warning).`,
      `  Ctrl-C stops the server; the data stays in ${path.join(home, "volume")}.`,
      "",
    ].join("\n"),
  );
  await new Promise(() => {});
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`local: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  });
}
