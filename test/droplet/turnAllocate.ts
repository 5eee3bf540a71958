/**
 * A TURN allocation over TLS (RFC 8656 with STUN's long-term credentials, RFC 8489), as a
 * browser does it for `turns:` URIs: Allocate, the server's 401 with realm and nonce, Allocate
 * again with MESSAGE-INTEGRITY; then CreatePermission and data through the relay. turnutils_uclient
 * checks relaying over UDP and TCP; over TLS it hangs at random (coturn 4.6.1's client), so TLS
 * is checked with this instead.
 */
import * as crypto from "node:crypto";
import * as tls from "node:tls";

const MAGIC_COOKIE = 0x2112a442;
const ALLOCATE = 0x0003;
const ALLOCATE_SUCCESS = 0x0103;
const ALLOCATE_ERROR = 0x0113;
const CREATE_PERMISSION = 0x0008;
const CREATE_PERMISSION_SUCCESS = 0x0108;
const SEND_INDICATION = 0x0016;
const DATA_INDICATION = 0x0017;
const ATTR = {
  USERNAME: 0x0006, MESSAGE_INTEGRITY: 0x0008, ERROR_CODE: 0x0009, LIFETIME: 0x000d, REALM: 0x0014, NONCE: 0x0015,
  XOR_PEER_ADDRESS: 0x0012, DATA: 0x0013, XOR_RELAYED_ADDRESS: 0x0016, REQUESTED_TRANSPORT: 0x0019,
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

export interface TlsTurnOptions { host: string; port: number; servername: string; ca: string; username: string; password: string }

/**
 * One TLS connection to a TURN server: Allocate, CreatePermission, and data both ways (Send
 * indications out, Data indications in), as a browser's `turns:` candidate uses it.
 */
class TlsTurnClient {
  private pending = Buffer.alloc(0);
  private readonly waiting: ((reply: Reply) => void)[] = [];
  private readonly data: { from: string; data: Buffer }[] = [];
  private credentials?: { key: Buffer; realm: Buffer; nonce: Buffer };

  private constructor(private readonly socket: tls.TLSSocket, private readonly options: TlsTurnOptions) {
    socket.on("data", (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 20 && this.pending.length >= 20 + this.pending.readUInt16BE(2)) {
        const size = 20 + this.pending.readUInt16BE(2);
        const reply = parse(this.pending.subarray(0, size));
        this.pending = this.pending.subarray(size);
        if (reply.type === DATA_INDICATION) {
          this.data.push({ from: xorAddress(reply.attributes.get(ATTR.XOR_PEER_ADDRESS)!), data: Buffer.from(reply.attributes.get(ATTR.DATA)!) });
        } else {
          this.waiting.shift()?.(reply);
        }
      }
    });
  }

  static async connect(options: TlsTurnOptions): Promise<TlsTurnClient> {
    const socket = tls.connect({ host: options.host, port: options.port, servername: options.servername, ca: options.ca });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    return new TlsTurnClient(socket, options);
  }

  private ask(request: Buffer): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no answer from the TURN server in 10 s")), 10_000);
      this.waiting.push((reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.socket.write(request);
    });
  }

  private signed(type: number, attributes: Attribute[]): Buffer {
    const { key, realm, nonce } = this.credentials!;
    return message(type, crypto.randomBytes(12), [[ATTR.USERNAME, Buffer.from(this.options.username)], [ATTR.REALM, realm], [ATTR.NONCE, nonce], ...attributes], key);
  }

  async allocate(): Promise<AllocationResult> {
    const transport: Attribute = [ATTR.REQUESTED_TRANSPORT, Buffer.from([UDP, 0, 0, 0])];
    const challenge = await this.ask(message(ALLOCATE, crypto.randomBytes(12), [transport]));
    const realm = challenge.attributes.get(ATTR.REALM);
    const nonce = challenge.attributes.get(ATTR.NONCE);
    if (challenge.type !== ALLOCATE_ERROR || !realm || !nonce) throw new Error(`expected a 401 challenge, got message type 0x${challenge.type.toString(16)}`);
    const key = crypto.createHash("md5").update(`${this.options.username}:${realm.toString()}:${this.options.password}`).digest();
    this.credentials = { key, realm, nonce };
    const reply = await this.ask(this.signed(ALLOCATE, [transport]));
    const certificate = this.socket.getPeerCertificate();
    if (reply.type === ALLOCATE_SUCCESS) {
      const relayed = reply.attributes.get(ATTR.XOR_RELAYED_ADDRESS);
      const lifetime = reply.attributes.get(ATTR.LIFETIME);
      return { outcome: "allocated", relayed: relayed ? xorAddress(relayed) : undefined, lifetimeSeconds: lifetime?.readUInt32BE(0), certificate };
    }
    return { outcome: errorOf(reply), certificate };
  }

  /** Let a peer's datagrams in (and ours out to it). */
  async permit(peer: string): Promise<void> {
    const reply = await this.ask(this.signed(CREATE_PERMISSION, [[ATTR.XOR_PEER_ADDRESS, xorEncode(peer)]]));
    if (reply.type !== CREATE_PERMISSION_SUCCESS) throw new Error(`CreatePermission for ${peer}: ${JSON.stringify(errorOf(reply))}`);
  }

  send(peer: string, data: Buffer): void {
    this.socket.write(message(SEND_INDICATION, crypto.randomBytes(12), [[ATTR.XOR_PEER_ADDRESS, xorEncode(peer)], [ATTR.DATA, data]]));
  }

  /** The next datagram relayed to us, within 10 s. */
  async receive(): Promise<{ from: string; data: Buffer }> {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      const next = this.data.shift();
      if (next) return next;
    }
    throw new Error("nothing relayed to us in 10 s");
  }

  close(): void {
    this.socket.destroy();
  }
}

function errorOf(reply: Reply): { code: number; reason: string } {
  const error = reply.attributes.get(ATTR.ERROR_CODE);
  return { code: error ? error[2] * 100 + error[3] : 0, reason: error ? error.subarray(4).toString() : `message type 0x${reply.type.toString(16)}` };
}

/** Allocate a UDP relay on a TURN server over TLS with a username and password. */
export async function allocateOverTls(options: TlsTurnOptions): Promise<AllocationResult> {
  const client = await TlsTurnClient.connect(options);
  try {
    return await client.allocate();
  } finally {
    client.close();
  }
}

/**
 * Two clients, each on its own TLS connection, allocate relays and send a datagram to each
 * other's relay and back: what a call between two browsers behind strict firewalls does.
 */
export async function relayOverTls(options: TlsTurnOptions): Promise<{ allocation: AllocationResult; there: Buffer; back: Buffer; sent: [Buffer, Buffer] }> {
  const [a, b] = [await TlsTurnClient.connect(options), await TlsTurnClient.connect(options)];
  try {
    const allocation = await a.allocate();
    const other = await b.allocate();
    if (allocation.outcome !== "allocated" || other.outcome !== "allocated") throw new Error(`no allocation: ${JSON.stringify([allocation.outcome, other.outcome])}`);
    await a.permit(other.relayed!);
    await b.permit(allocation.relayed!);
    const sent: [Buffer, Buffer] = [crypto.randomBytes(200), crypto.randomBytes(200)];
    a.send(other.relayed!, sent[0]);
    const there = await b.receive();
    if (there.from !== allocation.relayed) throw new Error(`relayed from ${there.from}, expected ${allocation.relayed}`);
    b.send(allocation.relayed!, sent[1]);
    const back = await a.receive();
    return { allocation, there: there.data, back: back.data, sent };
  } finally {
    a.close();
    b.close();
  }
}

/** ip:port as an IPv4 XOR-…-ADDRESS attribute. */
function xorEncode(address: string): Buffer {
  const [ip, port] = address.split(":");
  const value = Buffer.alloc(8);
  value.writeUInt8(1, 1);
  value.writeUInt16BE(Number(port) ^ (MAGIC_COOKIE >>> 16), 2);
  const octets = ip.split(".").map(Number);
  value.writeUInt32BE((((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) ^ MAGIC_COOKIE) >>> 0, 4);
  return value;
}

/** An IPv4 XOR-…-ADDRESS attribute as ip:port. */
function xorAddress(value: Buffer): string {
  const port = value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16);
  const ip = (value.readUInt32BE(4) ^ MAGIC_COOKIE) >>> 0;
  return `${[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join(".")}:${port}`;
}
