// The floor of a Deno copy (`deno task bench --copy`): every blob of an image from one registry
// into another with `fetch` and nothing else, all at once: a `POST` for a session, the source's
// body streamed into one `PUT ?digest=`. With `--hash`, the bytes also pass a SHA-256 (node:crypto)
// in a TransformStream, the least any verifying copy in Deno does. Not skiff's code: a yardstick
// for how much of a copy's time is Deno's `fetch` and hashing on one thread, and how much is skiff.
//
//   deno run -A bench/_deno_floor.ts [--hash] SOURCE_HOST DEST_HOST REPO LAYERS_JSON

import { createHash } from "node:crypto";

const hash = Deno.args[0] === "--hash";
const [source, dest, repo, layersJson] = Deno.args.slice(hash ? 1 : 0) as [
  string,
  string,
  string,
  string,
];
const layers = JSON.parse(layersJson) as { digest: string; size: number }[];

async function copyBlob(layer: { digest: string; size: number }): Promise<void> {
  const post = await fetch(`http://${dest}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await post.body?.cancel();
  if (post.status !== 202) throw new Error(`POST: ${post.status}`);
  const url = new URL(post.headers.get("location")!, `http://${dest}/`);
  url.searchParams.set("digest", layer.digest);
  const get = await fetch(`http://${source}/v2/${repo}/blobs/${layer.digest}`);
  if (get.status !== 200 || !get.body) throw new Error(`GET: ${get.status}`);
  let body: ReadableStream<Uint8Array> = get.body;
  if (hash) {
    const h = createHash("sha256");
    body = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          h.update(chunk);
          controller.enqueue(chunk);
        },
        flush(controller) {
          if (`sha256:${h.digest("hex")}` !== layer.digest) controller.error(new Error("digest"));
        },
      }),
    );
  }
  const put = await fetch(url, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body,
  });
  await put.body?.cancel();
  if (put.status !== 201) throw new Error(`PUT: ${put.status}`);
}

await Promise.all(layers.map(copyBlob));
