/**
 * A TURN allocation over TLS (RFC 8656 with STUN's long-term credentials, RFC 8489), as a
 * browser does it for `turns:` URIs: Allocate, the server's 401 with realm and nonce, Allocate
 * again with MESSAGE-INTEGRITY. turnutils_uclient checks relaying over UDP and TCP; over TLS it
 * hangs at random (coturn 4.6.1's client), so TLS is checked with this instead.
 */
import * as crypto from "node:crypto";
import * as tls from "node:tls";

const MAGIC_COOKIE = 0x2112a442;
const ALLOCATE = 0x0003;
const ALLOCATE_SUCCESS = 0x0103;
const ALLOCATE_ERROR = 0x0113;
const ATTR = {
  USERNAME: 0x0006, MESSAGE_INTEGRITY: 0x0008, ERROR_CODE: 0x0009, LIFETIME: 0x000d, REALM: 0x0014, NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016, REQUESTED_TRANSPORT: 0x0019,
} as const;
const UDP = 17;

type Attribute = [type: number, value: Buffer];

function attribute([type, value]: Attribute): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(value.length, 2);
  return Buffer.concat([header, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
}

function message(type: number, transaction: Buffer, attributes: Attribute[], integrityKey?: Buffer): Buffer {
  const body = Buffer.concat(attributes.map(attribute));
  const header = Buffer.alloc(20);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(body.length + (integrityKey ? 24 : 0), 2);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  transaction.copy(header, 8);
  const unsigned = Buffer.concat([header, body]);
  if (!integrityKey) return unsigned;
  // HMAC-SHA1 over everything before it, the length already counting the attribute itself.
  const mac = crypto.createHmac("sha1", integrityKey).update(unsigned).digest();
  return Buffer.concat([unsigned, attribute([ATTR.MESSAGE_INTEGRITY, mac])]);
}

interface Reply {
  type: number;
  attributes: Map<number, Buffer>;
}

function parse(buffer: Buffer): Reply {
  const attributes = new Map<number, Buffer>();
  let offset = 20;
  const end = 20 + buffer.readUInt16BE(2);
  while (offset + 4 <= end) {
    const type = buffer.readUInt16BE(offset);
    const length = buffer.readUInt16BE(offset + 2);
    attributes.set(type, buffer.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length + ((4 - (length % 4)) % 4);
  }
  return { type: buffer.readUInt16BE(0), attributes };
}

export interface AllocationResult {
  /** "allocated", or the error the server answered the authenticated request with. */
  outcome: "allocated" | { code: number; reason: string };
  /** The relayed transport address the server allocated (ip:port). */
  relayed?: string;
  lifetimeSeconds?: number;
  /** The certificate the server presented. */
  certificate: tls.PeerCertificate;
}

/** Allocate a UDP relay on a TURN server over TLS with a username and password. */
export async function allocateOverTls(options: { host: string; port: number; servername: string; ca: string; username: string; password: string }): Promise<AllocationResult> {
  const socket = tls.connect({ host: options.host, port: options.port, servername: options.servername, ca: options.ca });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  let pending = Buffer.alloc(0);
  const waiting: ((reply: Reply) => void)[] = [];
  socket.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 20 && pending.length >= 20 + pending.readUInt16BE(2)) {
      const size = 20 + pending.readUInt16BE(2);
      waiting.shift()?.(parse(pending.subarray(0, size)));
      pending = pending.subarray(size);
    }
  });
  const ask = (request: Buffer) => new Promise<Reply>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no answer from the TURN server in 10 s")), 10_000);
    waiting.push((reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
    socket.write(request);
  });
  const transport: Attribute = [ATTR.REQUESTED_TRANSPORT, Buffer.from([UDP, 0, 0, 0])];
  try {
    const challenge = await ask(message(ALLOCATE, crypto.randomBytes(12), [transport]));
    const realm = challenge.attributes.get(ATTR.REALM);
    const nonce = challenge.attributes.get(ATTR.NONCE);
    if (challenge.type !== ALLOCATE_ERROR || !realm || !nonce) throw new Error(`expected a 401 challenge, got message type 0x${challenge.type.toString(16)}`);
    const key = crypto.createHash("md5").update(`${options.username}:${realm.toString()}:${options.password}`).digest();
    const reply = await ask(message(ALLOCATE, crypto.randomBytes(12), [
      [ATTR.USERNAME, Buffer.from(options.username)], [ATTR.REALM, realm], [ATTR.NONCE, nonce], transport,
    ], key));
    const certificate = socket.getPeerCertificate();
    if (reply.type === ALLOCATE_SUCCESS) {
      const relayed = reply.attributes.get(ATTR.XOR_RELAYED_ADDRESS);
      const lifetime = reply.attributes.get(ATTR.LIFETIME);
      return {
        outcome: "allocated",
        relayed: relayed ? xorAddress(relayed) : undefined,
        lifetimeSeconds: lifetime?.readUInt32BE(0),
        certificate,
      };
    }
    const error = reply.attributes.get(ATTR.ERROR_CODE);
    return {
      outcome: { code: error ? error[2] * 100 + error[3] : 0, reason: error ? error.subarray(4).toString() : `message type 0x${reply.type.toString(16)}` },
      certificate,
    };
  } finally {
    socket.destroy();
  }
}

/** An IPv4 XOR-…-ADDRESS attribute as ip:port. */
function xorAddress(value: Buffer): string {
  const port = value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16);
  const ip = (value.readUInt32BE(4) ^ MAGIC_COOKIE) >>> 0;
  return `${[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".")}:${port}`;
}
