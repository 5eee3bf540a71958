/**
 * An S3 service standing in for DigitalOcean Spaces (moto's server, from PyPI, installed by
 * scripts/install-test-deps.sh), over TLS with a certificate from the test CA: the droplet's
 * off-site backups go to it with restic exactly as they would to Spaces.
 */
import * as fs from "fs";
import * as path from "path";
import { PACKAGE_ROOT as ROOT } from "../cloud-init/assets";
import { Service, startProcess, waitUntil } from "./process";
import { request } from "./https";
import { TestCa } from "./testCa";

export const MOTO_SERVER = path.join(ROOT, ".cache", "moto", "bin", "moto_server");

export interface S3 {
  /** https://<ip>:<port>, for spacesEndpoint. */
  endpoint: string;
  accessKeyId: string;
  secretKey: string;
  stop(): Promise<void>;
}

export async function startS3(dir: string, listenIp: string, ca: TestCa, port = 9443): Promise<S3> {
  if (!fs.existsSync(MOTO_SERVER)) throw new Error(`${MOTO_SERVER} is missing: run scripts/install-test-deps.sh`);
  fs.mkdirSync(dir, { recursive: true });
  const tls = ca.issue("s3", [listenIp]);
  fs.writeFileSync(path.join(dir, "cert.pem"), tls.cert);
  fs.writeFileSync(path.join(dir, "key.pem"), tls.key);
  const service: Service = startProcess(MOTO_SERVER, ["-H", listenIp, "-p", String(port), "-c", path.join(dir, "cert.pem"), "-k", path.join(dir, "key.pem")]);
  const endpoint = `https://${listenIp}:${port}`;
  await waitUntil("the S3 service", 60, async () => {
    if (service.process.exitCode !== null) throw new Error(`moto_server exited:\n${service.output()}`);
    return (await request(`${endpoint}/`, ca.certPem, { address: listenIp })).status === 200;
  });
  return { endpoint, accessKeyId: "DO00TESTACCESSKEY", secretKey: "test-spaces-secret-key", stop: () => service.stop() };
}
