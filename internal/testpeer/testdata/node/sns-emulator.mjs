// Amazon SNS emulator for tests: serverless-offline-sns's SNSServer, plus a
// record of every SMS publish so tests can read back what was sent.
//
//   node sns-emulator.mjs PORT PATH/TO/serverless-offline-sns/dist/sns-server.js
//
// GET  /_published  JSON [{phoneNumber, message, attributes: {name: value}}]
// POST /_clear      forgets the recorded messages
//
// The package's exports map only exposes dist/index.js (which needs the whole
// Serverless framework), so SNSServer is imported by file path.
import { pathToFileURL } from "node:url";
import express from "express";
import bodyParser from "body-parser";

const [port, serverPath] = process.argv.slice(2);
if (!port || !serverPath) {
  console.error("usage: node sns-emulator.mjs PORT SNS_SERVER_JS");
  process.exit(2);
}
const { SNSServer } = await import(pathToFileURL(serverPath).href);

const debug = process.env.SNS_EMULATOR_DEBUG
  ? (msg) => console.error("sns-emulator:", msg)
  : () => {};

let published = [];

// The SDK sends MessageAttributes.entry.N.Name / .Value.StringValue form fields.
function messageAttributes(body) {
  const attributes = {};
  for (const [key, name] of Object.entries(body)) {
    const match = /^MessageAttributes\.entry\.(\d+)\.Name$/.exec(key);
    if (match) {
      const base = `MessageAttributes.entry.${match[1]}.Value`;
      attributes[name] = body[`${base}.StringValue`] ?? body[`${base}.BinaryValue`];
    }
  }
  return attributes;
}

const app = express();
app.use(bodyParser.urlencoded({ extended: true, limit: "1mb" }));

app.get("/_published", (req, res) => res.json(published));
app.post("/_clear", (req, res) => {
  published = [];
  res.json({ cleared: true });
});

// Before SNSServer's routes: record SMS publishes the emulator accepts. It
// answers an accepted publish with res.send, and a refused one (an invalid
// number throws) through Express's error handler, which never calls send.
app.use((req, res, next) => {
  const body = req.body ?? {};
  if (req.method === "POST" && body.Action === "Publish" && body.PhoneNumber) {
    const send = res.send.bind(res);
    res.send = (payload) => {
      if (res.statusCode < 400) {
        published.push({
          phoneNumber: body.PhoneNumber,
          message: body.Message,
          attributes: messageAttributes(body),
        });
      }
      return send(payload);
    };
  }
  next();
});

new SNSServer(debug, app, "us-east-1", "123456789012");

const server = app.listen(Number(port), "127.0.0.1", () => {
  console.log(`sns-emulator: listening on http://127.0.0.1:${port}`);
});
server.on("error", (err) => {
  console.error("sns-emulator:", err.message);
  process.exit(1);
});

// Exit with the test process even where the kernel cannot be asked to.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
