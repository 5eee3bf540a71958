/** The local metadata service's paths, as DigitalOcean's answer them (docs: Droplet Metadata API). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as http from "node:http";
import { DropletMetadata, MetadataService, metadataAt } from "../local/metadata";

const MD: DropletMetadata = {
  droplet_id: 2756294, hostname: "matrix-example-org", user_data: "#cloud-config\n", vendor_data: "", public_keys: ["ssh-ed25519 AAAA a", "ssh-ed25519 BBBB b"],
  region: "nyc3",
  interfaces: { public: [{ ipv4: { ip_address: "203.0.113.7", netmask: "255.255.240.0", gateway: "203.0.113.1" }, mac: "02:00:00:00:00:01", type: "public" }] },
  reserved_ip: { ipv4: { active: false } }, dns: { nameservers: ["67.207.67.2"] }, tags: ["prod"], features: { dhcp_enabled: false },
};

describe("metadata paths", () => {
  it("answers leaves as text, with DigitalOcean's dashed names", () => {
    assert.equal(metadataAt(MD, "/metadata/v1/id"), "2756294");
    assert.equal(metadataAt(MD, "/metadata/v1/hostname"), "matrix-example-org");
    assert.equal(metadataAt(MD, "/metadata/v1/user-data"), "#cloud-config\n");
    assert.equal(metadataAt(MD, "/metadata/v1/public-keys"), "ssh-ed25519 AAAA a\nssh-ed25519 BBBB b");
    assert.equal(metadataAt(MD, "/metadata/v1/interfaces/public/0/ipv4/address"), "203.0.113.7");
    assert.equal(metadataAt(MD, "/metadata/v1/reserved_ip/ipv4/active"), "false");
  });

  it("lists directories, and serves the whole document as JSON", () => {
    assert.equal(metadataAt(MD, "/metadata/v1/interfaces/public/"), "0/");
    assert.match(metadataAt(MD, "/metadata/v1/interfaces/public/0/ipv4")!, /^address\nnetmask\ngateway$/);
    assert.deepEqual(JSON.parse(metadataAt(MD, "/metadata/v1.json")!), MD);
    assert.equal(metadataAt(MD, "/metadata/v1/nothing"), undefined);
    assert.equal(metadataAt(MD, "/other"), undefined);
  });

  it("wants no port of this machine's: it listens where the kernel says, while something else holds port 80 everywhere", async () => {
    // What Caddy does in the services test, or any web server on the machine running the tests.
    const holder = http.createServer((_, res) => res.end());
    await new Promise<void>((resolve, reject) => holder.once("error", reject).listen(80, "0.0.0.0", () => resolve()));
    const service = new MetadataService();
    try {
      const port = await service.start("127.0.0.1");
      assert.notEqual(port, 80);
      service.set("127.0.0.1", MD);
      const reply = await fetch(`http://127.0.0.1:${port}/metadata/v1/hostname`);
      assert.equal(await reply.text(), "matrix-example-org");
    } finally {
      await service.stop();
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
