/**
 * `npm run local`: try the server before paying for a droplet. Runs your stack's program
 * (Pulumi.yaml's `main`, with your stack's config as the Pulumi CLI merges it) against the
 * local cloud (cloud.ts), so what boots is exactly what `pulumi up` would declare: the droplet
 * from its userData, its DNS records, reserved IP and firewall. Certificates come from Caddy's
 * own local CA instead of Let's Encrypt (the one setting changed), and a local SSH key stands
 * in for your DigitalOcean keys. Prints the addresses and the admin login; Ctrl-C stops it.
 *
 *   sudo -E npm run local -- [--stack NAME]   (Linux, as root; the `pulumi` CLI on PATH)
 *
 * Generated secrets and the data are kept in .cache/local/<stack>/, so the next run finds the
 * same server; delete that directory to start afresh.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { PACKAGE_ROOT } from "../cloud-init/assets";
import { PATHS } from "../cloud-init/paths";
import { LocalCloud } from "./cloud";
import { MetadataService } from "./metadata";
import { LocalNetwork } from "./network";
import { cliStackConfig } from "./pulumiCli";
import { ensureRootfs } from "./rootfs";
import { run, waitUntil } from "./process";
import { hostCaCertificates } from "./secrets";
import { markStopping, teardownAll } from "./teardown";

/** The stack: --stack NAME, or the project's only Pulumi.<stack>.yaml. */
export function stackName(projectDir: string, argv: string[]): string {
  const flag = argv.indexOf("--stack");
  if (flag >= 0 && argv[flag + 1]) return argv[flag + 1];
  const files = fs.readdirSync(projectDir).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f));
  if (files.length === 1) return files[0].split(".")[1];
  throw new Error(`name the stack: --stack NAME (found ${files.join(", ") || "no Pulumi.<stack>.yaml"})`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run it as root (it boots a container and sets up its network)");
  const projectDir = process.cwd();
  const project = YAML.parse(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")) as { name: string; main?: string };
  const stack = stackName(projectDir, process.argv);
  const config = cliStackConfig(projectDir, stack);
  const key = (name: string) => `${project.name}:${name}`;
  const home = path.join(PACKAGE_ROOT, ".cache", "local", stack);
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });

  // A local key stands in for the account's SSH keys (and for sshPublicKey and sshPrivateKey, if set).
  /** A key pair of this stack's local runs, made once; its private key's path. */
  const localKey = (file: string, comment: string) => {
    const made = path.join(home, file);
    if (!fs.existsSync(made)) run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", made]);
    return made;
  };
  const sshKey = localKey("ssh-key", "npm-run-local");
  const publicKey = fs.readFileSync(`${sshKey}.pub`, "utf8").trim();
  const declaredKeys = JSON.parse(config[key("sshKeys")]?.value ?? "[]") as string[];
  // With sshPublicKey (which the stack adds to the account) the account's keys are another one:
  // DigitalOcean, and the local cloud, refuse a key the account has already.
  const accountPublicKey = config[key("sshPublicKey")]?.value
    ? fs.readFileSync(`${localKey("ssh-key-account", "npm-run-local-account")}.pub`, "utf8").trim()
    : publicKey;
  const values: Record<string, string> = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, v.value]));
  const secretKeys = Object.entries(config).filter(([, v]) => v.secret).map(([k]) => k);
  values[key("acmeServer")] = "internal"; // nobody outside can reach this server: Caddy's own CA signs
  values[key("extraCaCertificates")] = JSON.stringify([...JSON.parse(values[key("extraCaCertificates")] || "[]"), ...hostCaCertificates()]);
  if (values[key("sshPrivateKey")] !== undefined) values[key("sshPrivateKey")] = fs.readFileSync(sshKey, "utf8");
  if (values[key("sshPublicKey")]) values[key("sshPublicKey")] = publicKey;

  const log = (line: string) => console.log(`local: ${line}`);
  ensureRootfs(log);
  const network = LocalNetwork.create();
  const address = network.addHost(1);
  const metadata = new MetadataService();
  network.routeMetadata(await metadata.start(network.metadataAddress));
  // Caddy's local root, copied out of the droplet once Caddy has made it.
  const caFile = path.join(home, "caddy-root.crt");
  fs.rmSync(caFile, { force: true });
  const cloud = new LocalCloud({
    network, address, metadata, log, cwd: projectDir,
    dir: path.join(home, "cloud"),
    stateFile: path.join(home, "state.json"),
    sshKeys: Object.fromEntries(declaredKeys.map((k) => [k, accountPublicKey])),
  });

  let stopping = false;
  const stop = async (code = 0) => {
    if (stopping) return;
    stopping = true;
    markStopping();
    log("stopping…");
    // As an interrupted test run does (teardown.ts): the droplet powered off cleanly first,
    // then its cloud and network, each step reported.
    await teardownAll();
    await metadata.stop();
    log(`stopped; the data stays in ${path.join(home, "cloud", "volumes")}`);
    process.exit(code);
  };
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());

  pulumi.runtime.setAllConfig(values, secretKeys);
  const program = path.resolve(projectDir, project.main ?? ".");
  log(`deploying stack ${stack} (${path.relative(projectDir, program) || "."}) into the local cloud…`);
  const started = Date.now();
  let outputs: Record<string, unknown>;
  try {
    outputs = await cloud.deploy(() => require(program), project.name, stack);
  } catch (error) {
    console.error(`local: ${error instanceof Error ? error.message : error}`);
    await stop(1);
    return;
  }
  log(`ready in ${Math.round((Date.now() - started) / 1000)} s`);
  await waitUntil("Caddy's local certificate authority", 600, () => {
    const inside = [...cloud.droplets.values()][0]?.file(PATHS.caddyLocalCaRoot);
    if (!inside || !fs.existsSync(inside)) return false;
    fs.copyFileSync(inside, caFile);
    return true;
  }, 1000);
  const hosts = cloud.dnsRecords().hosts;
  // The droplet's host key is the stack's (an output): pinned, as `pulumi up` pins it.
  const knownHosts = path.join(home, "known_hosts");
  fs.writeFileSync(knownHosts, `${outputs.reservedIp} ${outputs.sshHostKey}\n`);
  console.log(
    [
      "",
      `  Element:        ${outputs.elementUrl}`,
      `  Homeserver:     ${outputs.homeserverUrl}`,
      `  Admin:          ${outputs.adminUserId}`,
      `  Password:       ${outputs.adminPassword}`,
      `  Address:        ${outputs.reservedIp}`,
      `  CA certificate: ${caFile}`,
      `  SSH:            ssh -i ${sshKey} -o UserKnownHostsFile=${knownHosts} root@${outputs.reservedIp}`,
      "",
      `  To open it in a browser on this machine, add to /etc/hosts:`,
      `    ${outputs.reservedIp} ${Object.keys(hosts).join(" ")}`,
      `  and trust the CA certificate (or accept the browser's warning).`,
      `  Ctrl-C stops the server; the data stays in ${path.join(home, "cloud", "volumes")}.`,
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
