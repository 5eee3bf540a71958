/**
 * An SMTP relay that keeps what it receives (smtp-server from npm), with STARTTLS and
 * password authentication, like the relays `smtpHost` points at.
 */
import { SMTPServer } from "smtp-server";

export interface Mail {
  from: string;
  to: string[];
  user: string;
  data: string;
}

export interface SmtpSink {
  received: Mail[];
  close(): Promise<void>;
}

export async function startSmtpSink(port: number, tls: { cert: string; key: string }, login: { user: string; password: string }, host = "127.0.0.1"): Promise<SmtpSink> {
  const received: Mail[] = [];
  const server = new SMTPServer({
    secure: false, // STARTTLS on a plain port, as on 587
    key: tls.key,
    cert: tls.cert,
    authMethods: ["PLAIN", "LOGIN"],
    // No AUTH before STARTTLS: a client that would send the password in clear fails.
    allowInsecureAuth: false,
    onAuth(auth, _session, callback) {
      if (auth.username === login.user && auth.password === login.password) callback(null, { user: auth.username });
      else callback(new Error("bad credentials"));
    },
    onData(stream, session, callback) {
      let data = "";
      stream.on("data", (chunk: Buffer) => (data += chunk.toString()));
      stream.on("end", () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          user: String(session.user ?? ""),
          data,
        });
        callback();
      });
    },
    logger: false,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return { received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
