// Opens a store for the commands that only look at or clean up what is there (images, rm, gc):
// a directory that does not exist yet is an empty store, not one to create.

import { refuseNonDirectory } from "./_fs.ts";
import { Store } from "./store.ts";

/** The store, or `undefined` when the directory does not exist or is empty. */
export async function openExisting(store: string | Store): Promise<Store | undefined> {
  if (store instanceof Store) return store;
  const dir = store.length > 1 ? store.replace(/\/+$/, "") : store;
  await refuseNonDirectory(dir);
  try {
    await Deno.stat(`${dir}/oci-layout`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    let empty = true;
    try {
      for await (const _ of Deno.readDir(dir)) {
        empty = false;
        break;
      }
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
    if (empty) return undefined;
  }
  // an existing layout, or a non-empty directory that Store.open refuses with its own message
  return await Store.open(dir, { create: false });
}
