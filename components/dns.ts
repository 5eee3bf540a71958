/**
 * The domain and its records. Values are written the way DigitalOcean reads them back
 * (hostnames with a trailing dot), and every record is named, so a second `pulumi up`
 * shows no diff.
 */
import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import { CloudOptions, Shape } from "./settings";
import { FEDERATION_PORT } from "../cloud-init/ports";

export interface DnsArgs {
  /** The zone and the records' names (settings). */
  dns: pulumi.Output<CloudOptions["dns"]>;
  shape: Pick<Shape, "existingDomain" | "ipv6" | "turn" | "matrixRtc">;
  ipv4Address: pulumi.Input<string>;
  ipv6Address: pulumi.Input<string>;
  /** With TURN on, its record is the droplet's own IPv4 (see cloud-init/turn.ts for why). */
  turnIpv4Address: pulumi.Input<string>;
  /** The SRV records' target. */
  matrixHost: pulumi.Input<string>;
  /** CA allowed to issue certificates for the domain (CAA). */
  caaIssuer: pulumi.Input<string>;
}

export interface DeclaredDns {
  domain: pulumi.Output<string>;
  domainUrn?: pulumi.Output<string>;
  records: digitalocean.DnsRecord[];
}

export const SRV_SERVICES = ["_matrix-fed._tcp", "_matrix._tcp"];

export function declareDns(name: string, args: DnsArgs, opts: pulumi.CustomResourceOptions): DeclaredDns {
  const { dns, shape } = args;
  let domain: pulumi.Output<string>;
  let domainUrn: pulumi.Output<string> | undefined;
  if (shape.existingDomain) {
    domain = dns.zone;
  } else {
    const zone = new digitalocean.Domain(`${name}-domain`, { name: dns.zone }, opts);
    domain = zone.name;
    domainUrn = zone.domainUrn;
  }

  const records: digitalocean.DnsRecord[] = [];
  const hosts = [
    ...(["apex", "matrix", "element"] as const).map((key) => [key, dns.hostRecords[key]] as const),
    // Resolved whenever the shape has MatrixRTC on (both come from the same setting).
    ...(shape.matrixRtc ? [["rtc", dns.apply((d) => d.rtcRecord!)] as const] : []),
  ];
  for (const [key, recordName] of hosts) {
    records.push(new digitalocean.DnsRecord(`${name}-a-${key}`, {
      domain, type: "A", name: recordName, value: args.ipv4Address, ttl: 1800,
    }, opts));
    if (shape.ipv6) {
      // The droplet's own IPv6 (DigitalOcean has no reserved IPv6 here); a short TTL because
      // it changes when the droplet is replaced.
      records.push(new digitalocean.DnsRecord(`${name}-aaaa-${key}`, {
        domain, type: "AAAA", name: recordName, value: args.ipv6Address, ttl: 300,
      }, opts));
    }
  }
  for (const service of SRV_SERVICES) {
    records.push(new digitalocean.DnsRecord(`${name}-srv-${service.split(".")[0].replace(/^_/, "")}`, {
      domain, type: "SRV", name: service, priority: 10, weight: 5, port: FEDERATION_PORT,
      value: pulumi.interpolate`${args.matrixHost}.`, ttl: 1800,
    }, opts));
  }
  if (shape.turn) {
    // A short TTL: the droplet's own address changes when the droplet is replaced.
    records.push(new digitalocean.DnsRecord(`${name}-a-turn`, {
      domain, type: "A", name: dns.apply((d) => d.turnRecord!), value: args.turnIpv4Address, ttl: 300,
    }, opts));
  }
  records.push(new digitalocean.DnsRecord(`${name}-caa`, {
    domain, type: "CAA", name: dns.hostRecords.apex, flags: 0, tag: "issue", value: pulumi.interpolate`${args.caaIssuer}.`, ttl: 1800,
  }, opts));
  return { domain, domainUrn, records };
}
