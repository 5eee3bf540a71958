/** A test certificate authority (openssl) for the servers the local droplet talks to. */
import * as fs from "fs";
import * as path from "path";
import { run } from "./process";

export interface TestCa {
  certPem: string;
  /** Issue a server certificate for these names / IP addresses; returns PEM cert and key. */
  issue(name: string, altNames: string[]): { cert: string; key: string };
}

export function createTestCa(dir: string, commonName = "matrix-do test CA"): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  const file = (n: string) => path.join(dir, n);
  const ok = (r: { code: number; stderr: string }) => {
    if (r.code !== 0) throw new Error(r.stderr);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  ok(run("openssl", ["req", "-x509", ...ec, "-keyout", file("ca.key"), "-out", file("ca.crt"), "-days", "2", "-subj", `/CN=${commonName}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
  return {
    certPem: fs.readFileSync(file("ca.crt"), "utf8"),
    issue(name, altNames) {
      ok(run("openssl", ["req", ...ec, "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`), "-subj", `/CN=${name}`]));
      const san = altNames.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
      fs.writeFileSync(file(`${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
      ok(run("openssl", ["x509", "-req", "-in", file(`${name}.csr`), "-CA", file("ca.crt"), "-CAkey", file("ca.key"), "-CAcreateserial",
        "-out", file(`${name}.crt`), "-days", "2", "-extfile", file(`${name}.ext`)]));
      return { cert: fs.readFileSync(file(`${name}.crt`), "utf8"), key: fs.readFileSync(file(`${name}.key`), "utf8") };
    },
  };
}
