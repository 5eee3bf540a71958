/**
 * Pebble, Let's Encrypt's ACME test server (Go module, built here): Caddy on the local
 * droplet obtains its certificates from it by HTTP-01, exactly as from Let's Encrypt.
 */
import * as fs from "fs";
import * as path from "path";
import { Service, startProcess, waitUntil } from "./process";
import { goInstall } from "./goBuild";
import { request } from "./https";
import { TestCa } from "./testCa";

export const PEBBLE_MODULE = "github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3";

/** The pebble binary, built once. */
export function ensurePebble(): string {
  return goInstall("pebble", PEBBLE_MODULE, "pebble");
}

export interface Pebble {
  directoryUrl: string;
  /** Root of the certificates Pebble issues (made anew each start). */
  issuingRoot: string;
  /** How many ACME accounts have been registered (Pebble logs the count at each). */
  accounts(): number;
  stop(): Promise<void>;
}

export async function startPebble(dir: string, listenIp: string, dnsServer: string, ca: TestCa): Promise<Pebble> {
  fs.mkdirSync(dir, { recursive: true });
  const tls = ca.issue("pebble", [listenIp]);
  fs.writeFileSync(path.join(dir, "cert.pem"), tls.cert);
  fs.writeFileSync(path.join(dir, "key.pem"), tls.key);
  fs.writeFileSync(path.join(dir, "pebble.json"), JSON.stringify({
    pebble: {
      listenAddress: `${listenIp}:14000`,
      managementListenAddress: `${listenIp}:15000`,
      certificate: path.join(dir, "cert.pem"),
      privateKey: path.join(dir, "key.pem"),
      httpPort: 80,
      tlsPort: 443,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
    },
  }));
  const service: Service = startProcess(ensurePebble(), ["-config", path.join(dir, "pebble.json"), "-dnsserver", `${dnsServer}:53`], {
    ...process.env,
    PEBBLE_VA_NOSLEEP: "1",
    PEBBLE_WFE_NONCEREJECT: "0",
  });
  let accounts = 0;
  let partial = "";
  service.process.stdout!.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      const count = /There are now (\d+) accounts in memory/.exec(line);
      if (count) accounts = Number(count[1]);
    }
  });
  let issuingRoot = "";
  await waitUntil("Pebble", 30, async () => {
    if (service.process.exitCode !== null) throw new Error(`pebble exited:\n${service.output()}`);
    const r = await request(`https://${listenIp}:15000/roots/0`, ca.certPem, { address: listenIp });
    issuingRoot = r.status === 200 ? r.body : "";
    return issuingRoot.includes("BEGIN CERTIFICATE");
  });
  return { directoryUrl: `https://${listenIp}:14000/dir`, issuingRoot, accounts: () => accounts, stop: () => service.stop() };
}
