// A Node app's reading of cookies: the `cookie` package, as Express uses it.
// Usage: node peer.mjs PORT TOKEN NODE_MODULES_DIR
import http from "node:http";
import { createRequire } from "node:module";

const [port, token, modules] = process.argv.slice(2);
const cookie = createRequire(modules + "/")("cookie");

http
  .createServer((req, res) => {
    const jar = cookie.parse(req.headers.cookie || "");
    const session = Object.prototype.hasOwnProperty.call(jar, "legacy_session") ? jar.legacy_session : null;
    const path = req.url.split("?")[0];
    const answer = (status, body, type = "text/plain") => {
      res.writeHead(status, { "Content-Type": type });
      res.end(body);
    };
    if (path === "/health") answer(200, "ok");
    else if (path === "/echo") answer(200, JSON.stringify({ session }), "application/json");
    else if (path === "/whoami")
      session === token
        ? answer(200, '{"id":"victim"}', "application/json")
        : answer(401, '{"error":"not logged in"}', "application/json");
    else if (path === "/secret")
      session === token ? answer(200, "secret of the victim") : answer(401, "please log in");
    else answer(404, "not found");
  })
  .listen(Number(port), "127.0.0.1");
