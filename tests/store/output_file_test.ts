// OutputFile and OutputDirectory through the module: what each kind of path becomes, the one-line
// refusals, and temporaries that concurrent writers into the same place never take from each
// other (the directory's lock closes the moment between creating a temporary and locking it).

import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { names, tempDir } from "../_temp.ts";
import { OutputDirectory } from "../../lib/store/output_directory.ts";
import { OutputFile, resolveOutput } from "../../lib/store/output_file.ts";
import { sweepTemps } from "../../lib/store/_temp_files.ts";

const enc = new TextEncoder();

Deno.test("OutputFile: refusals in one line, before anything is made", async () => {
  const dir = await tempDir();
  const options = { action: "save to" };
  // a directory, a socket, a loop of symlinks, not a file name
  const dirError = await assertRejects(() => OutputFile.open(dir, options));
  assertEquals(dirError.message, `Cannot save to ${dir}: it is a directory`);
  const listener = Deno.listen({ transport: "unix", path: `${dir}/sock` });
  try {
    const sock = await assertRejects(() => OutputFile.open(`${dir}/sock`, options));
    assertEquals(sock.message, `Cannot save to ${dir}/sock: it is a socket`);
  } finally {
    listener.close();
  }
  await Deno.symlink("b", `${dir}/a`);
  await Deno.symlink("a", `${dir}/b`);
  const loop = await assertRejects(() => OutputFile.open(`${dir}/a`, options));
  assert(loop.message.startsWith(`Cannot save to ${dir}/a: Too many levels of symbolic links`));
  const slash = await assertRejects(() => OutputFile.open(`${dir}/new/`, options));
  assertEquals(slash.message, `Cannot save to ${dir}/new/: not a file name`);
  // an existing file, when refused; a FIFO for an output that seeks
  await Deno.writeTextFile(`${dir}/taken`, "mine");
  const taken = await assertRejects(() =>
    OutputFile.open(`${dir}/taken`, { action: "unpack into", existing: "refuse" })
  );
  assertEquals(taken.message, `Cannot unpack into ${dir}/taken: it exists`);
  await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
  const fifo = await assertRejects(() =>
    OutputFile.open(`${dir}/fifo`, { action: "unpack into", seeks: "a disk image" })
  );
  assertEquals(
    fifo.message,
    `Cannot unpack into ${dir}/fifo: it is a FIFO, and a disk image is written out of order ` +
      `and read back: give a file or a block device`,
  );
  assertEquals(await names(dir), ["a", "b", "fifo", "taken"]);
  assertEquals(await Deno.readTextFile(`${dir}/taken`), "mine");
});

Deno.test("OutputFile: concurrent writers of one file never take each other's temporary", async () => {
  const dir = await tempDir();
  // every open sweeps the target's dead temporaries while the others create theirs
  for (let round = 0; round < 40; round++) {
    const writers = Array.from({ length: 32 }, async (_, i) => {
      const out = await OutputFile.open(`${dir}/out.tar`, { kind: "save" });
      await out.write(enc.encode(`writer ${i}`));
      await out.commit();
    });
    const results = await Promise.allSettled(writers);
    const failed = results.filter((r) => r.status === "rejected");
    assertEquals(failed, [], `round ${round}`);
    assertEquals(await names(dir), ["out.tar"]);
    assert((await Deno.readTextFile(`${dir}/out.tar`)).startsWith("writer "));
  }
});

Deno.test("OutputFile: a temporary's name that is a symlink is never followed", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/precious`);
  await Deno.writeTextFile(`${dir}/precious/file`, "keep");
  await Deno.symlink("precious", `${dir}/.out.skiff-save-0123456789abcdef`);
  const swept = await sweepTemps(dir, (n) => n.startsWith(".out.skiff-"));
  assertEquals(swept.stale, []);
  assertEquals(await Deno.readTextFile(`${dir}/precious/file`), "keep");
  // a dead temporary of the same target, a real file: removed
  await Deno.writeTextFile(`${dir}/.out.skiff-save-fedcba9876543210`, "half");
  await OutputFile.check(`${dir}/out`);
  assertEquals(await names(dir), [".out.skiff-save-0123456789abcdef", "precious"]);
});

Deno.test("OutputFile: an aborted output leaves nothing; a FIFO's reader sees the end", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/out.tar`, "old");
  const out = await OutputFile.open(`${dir}/out.tar`);
  await out.write(enc.encode("half"));
  await out.abort();
  assertEquals(await names(dir), ["out.tar"]);
  assertEquals(await Deno.readTextFile(`${dir}/out.tar`), "old");

  await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
  const reader = new Deno.Command("cat", { args: [`${dir}/fifo`], stdout: "piped" }).output();
  const fifo = await OutputFile.open(`${dir}/fifo`);
  assertEquals([fifo.kind, fifo.temp], ["fifo", undefined]);
  await fifo.write(enc.encode("through the pipe"));
  await fifo.abort();
  assertEquals(new TextDecoder().decode((await reader).stdout), "through the pipe");
  assertEquals((await Deno.lstat(`${dir}/fifo`)).isFifo, true);
});

Deno.test("resolveOutput and OutputDirectory: symlinks to directories and to nothing yet", async () => {
  const dir = await Deno.realPath(await tempDir());
  await Deno.mkdir(`${dir}/real`);
  await Deno.symlink("real", `${dir}/link`);
  assertEquals(await resolveOutput(`${dir}/link`), {
    path: `${dir}/link`,
    target: `${dir}/real`,
    kind: "directory",
  });
  // a chain ending nowhere: the last path
  await Deno.symlink("two", `${dir}/one`);
  await Deno.symlink("sub/three", `${dir}/two`);
  assertEquals((await resolveOutput(`${dir}/one`)).target, `${dir}/sub/three`);
  const built = await OutputDirectory.create(`${dir}/one`, { kind: "unpack" });
  await Deno.writeTextFile(`${built.dir}/hello`, "hi");
  await built.commit();
  assertEquals(await Deno.readTextFile(`${dir}/sub/three/hello`), "hi");
  assertEquals((await Deno.lstat(`${dir}/one`)).isSymlink, true);
  // a non-empty directory through a link is refused
  const full = await assertRejects(() =>
    OutputDirectory.check(`${dir}/one`, { action: "unpack into" })
  );
  assertEquals(full.message, `Cannot unpack into ${dir}/one: the directory is not empty`);
});

Deno.test("sweepTemps: while a writer creates a temporary there, nothing is judged", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/.out.skiff-save-0123456789abcdef`, "dead");
  // what a writer holds while it creates and locks its temporary
  const creating = await Deno.open(dir, { read: true });
  assert(await creating.tryLock(false));
  // a sweeper that waited for the lock would judge (and remove) once it is let go
  const letGo = setTimeout(() => creating.close(), 5000);
  try {
    const swept = await sweepTemps(dir, (n) => n.startsWith(".out.skiff-"));
    assertEquals(swept, { stale: [], inUse: [`${dir}/.out.skiff-save-0123456789abcdef`] });
  } finally {
    clearTimeout(letGo);
    try {
      creating.close();
    } catch {
      // let go already
    }
  }
  const later = await sweepTemps(dir, (n) => n.startsWith(".out.skiff-"));
  assertEquals(later.stale.length, 1);
  assertEquals(await names(dir), []);
});

Deno.test("OutputFile: an abort ends the wait for a FIFO's reader, nothing left pending", async () => {
  const dir = await tempDir();
  await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
  const controller = new AbortController();
  const opening = OutputFile.open(`${dir}/fifo`, { signal: controller.signal });
  opening.catch(() => {});
  // wait until a thread of this process sleeps in the FIFO's open, waiting for a reader
  const waiting = async () => {
    for await (const task of Deno.readDir("/proc/self/task")) {
      const wchan = await Deno.readTextFile(`/proc/self/task/${task.name}/wchan`).catch(() => "");
      if (wchan === "wait_for_partner" || wchan === "fifo_open") return true;
    }
    return false;
  };
  while (!(await waiting())) await new Promise((r) => setTimeout(r, 5));
  controller.abort(new Error("interrupted"));
  // a bound against a hang, not a timing assertion: past it, a reader of our own ends the wait
  let gaveUp = false;
  const giveUp = setTimeout(() => {
    gaveUp = true;
    Deno.open(`${dir}/fifo`, { read: true }).then((f) => f.close(), () => {});
  }, 30_000);
  const e = await assertRejects(() => opening);
  clearTimeout(giveUp);
  assert(!gaveUp, "the abort did not end the wait for a reader");
  assertEquals(e.message, "interrupted");
  // the test's op sanitizer fails it when an open is left pending
  assertEquals((await Deno.lstat(`${dir}/fifo`)).isFifo, true);
});
