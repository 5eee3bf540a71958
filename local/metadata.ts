/**
 * A droplet metadata service shaped like DigitalOcean's (http://169.254.169.254/metadata/v1/…,
 * and the whole document at /metadata/v1.json), answering each droplet of the local network
 * about itself, by its source address. Like DigitalOcean's, it hands the user_data — and with
 * it the server's secrets — to any process on the droplet that asks: the payload's metadata
 * guard is what keeps service accounts away from it.
 */
import * as http from "http";
import type { AddressInfo } from "net";

export const METADATA_IP = "169.254.169.254";

export interface DropletMetadata {
  droplet_id: number;
  hostname: string;
  user_data: string;
  vendor_data: string;
  public_keys: string[];
  region: string;
  interfaces: { public: { ipv4: { ip_address: string; netmask: string; gateway: string }; mac: string; type: "public" }[] };
  reserved_ip: { ipv4: { active: boolean; ip_address?: string } };
  dns: { nameservers: string[] };
  tags: string[];
  features: Record<string, unknown>;
}

/** The value at a metadata path: a leaf as text, a directory as its entries (one a line, directories with "/"). */
export function metadataAt(md: DropletMetadata, urlPath: string): string | undefined {
  if (urlPath === "/metadata/v1.json") return JSON.stringify(md);
  const rest = urlPath.replace(/^\/metadata\/v1\/?/, "");
  if (rest === urlPath) return undefined;
  // DigitalOcean's paths use dashes where the JSON document uses underscores.
  const names: Record<string, string> = { id: "droplet_id", "user-data": "user_data", "vendor-data": "vendor_data", "public-keys": "public_keys", "reserved_ip": "reserved_ip" };
  let node: unknown = md;
  for (const part of rest.split("/").filter(Boolean)) {
    if (node === null || typeof node !== "object") return undefined;
    const obj = node as Record<string, unknown>;
    const field = names[part] ?? part.replace(/-/g, "_");
    node = Array.isArray(obj) ? obj[Number(part)] : field === "address" ? obj.ip_address : obj[field];
    if (node === undefined) return undefined;
  }
  if (Array.isArray(node)) return node.every((v) => typeof v !== "object") ? node.join("\n") : node.map((_, i) => `${i}/`).join("\n");
  if (node !== null && typeof node === "object") {
    return Object.entries(node).map(([k, v]) => (v !== null && typeof v === "object" ? `${k}/` : k.replace(/_/g, "-").replace(/^ip-address$/, "address"))).join("\n");
  }
  return String(node);
}

export class MetadataService {
  private readonly droplets = new Map<string, DropletMetadata>();
  private server?: http.Server;

  /**
   * Listen on `address`, an address of this machine: the local network's (network.ts), which
   * forwards what its droplets send to 169.254.169.254 here. Resolves with the port, which the
   * kernel picks (LocalNetwork.routeMetadata).
   */
  async start(address: string): Promise<number> {
    this.server = http.createServer((req, res) => {
      const md = this.droplets.get((req.socket.remoteAddress ?? "").replace(/^::ffff:/, ""));
      const body = md ? metadataAt(md, new URL(req.url ?? "/", "http://x").pathname) : undefined;
      res.writeHead(body === undefined ? 404 : 200, { "content-type": req.url?.endsWith(".json") ? "application/json" : "text/plain" });
      res.end(body ?? "not found\n");
    });
    return new Promise<number>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(0, address, () => resolve((this.server!.address() as AddressInfo).port));
    });
  }

  /** Answer the droplet at `ip` (its private address here) with this metadata. */
  set(ip: string, md: DropletMetadata): void {
    this.droplets.set(ip, md);
  }

  forget(ip: string): void {
    this.droplets.delete(ip);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
