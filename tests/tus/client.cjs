// A real tus client (tus-js-client in Node) for tests/e2e/upload_tus.rs. Environment:
// TUS_JS (module dir), FILE, and either ENDPOINT (create) or UPLOAD_URL (resume); optional TOKEN,
// CHUNK_SIZE (bytes per PATCH; whole file when unset), DELAY_MS (pause before each request, so a
// test can kill the client mid-upload), TITLE. Prints one JSON line per event:
// {"event":"url","url":…} once created, {"event":"progress","sent":…,"total":…},
// {"event":"resumed","offset":…} (the server's offset when resuming), {"event":"head","offset":…}
// (every HEAD's answer), {"event":"accepted","offset":…} (each PATCH the server acknowledged),
// {"event":"success","url":…}. RETRY_DELAYS (comma-separated ms) replaces the default retries.
"use strict";
const fs = require("fs");
const tus = require(process.env.TUS_JS);
const { FILE, ENDPOINT, UPLOAD_URL, TOKEN, CHUNK_SIZE, DELAY_MS, TITLE, RETRY_DELAYS } = process.env;

const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const size = fs.statSync(FILE).size;
let first = true;

const upload = new tus.Upload(fs.createReadStream(FILE), {
  endpoint: ENDPOINT || null,
  uploadUrl: UPLOAD_URL || null,
  uploadSize: size,
  chunkSize: CHUNK_SIZE ? Number(CHUNK_SIZE) : Infinity,
  retryDelays: RETRY_DELAYS ? RETRY_DELAYS.split(",").map(Number) : [0, 200, 500, 1000],
  metadata: { filename: "clip.mp4", filetype: "video/mp4", title: TITLE || "tus upload" },
  headers: TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {},
  onUploadUrlAvailable: () => say({ event: "url", url: upload.url }),
  onBeforeRequest: (req) =>
    DELAY_MS && req.getMethod() === "PATCH"
      ? new Promise((r) => setTimeout(r, Number(DELAY_MS)))
      : undefined,
  onAfterResponse: (req, res) => {
    if (req.getMethod() === "HEAD") {
      const offset = Number(res.getHeader("Upload-Offset"));
      if (first) {
        first = false;
        say({ event: "resumed", offset });
      }
      say({ event: "head", status: res.getStatus(), offset });
    }
  },
  onChunkComplete: (_chunk, accepted) => say({ event: "accepted", offset: accepted }),
  onProgress: (sent, total) => say({ event: "progress", sent, total }),
  onError: (e) => {
    say({ event: "error", message: String(e) });
    process.exit(1);
  },
  onSuccess: () => {
    say({ event: "success", url: upload.url });
    process.exit(0);
  },
});
upload.start();
