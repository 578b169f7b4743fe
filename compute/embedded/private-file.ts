/**
 * Files only their owner may read (the local admin token, the Worker's secrets for wrangler dev).
 * Written to a fresh file created with mode 0600 and renamed over the target, so the secret is
 * never in a file someone else can read, even when an older file with looser permissions is
 * there, and a reader never sees half a file.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/** Writes `text` to `file` (mode 0600), creating its directory if needed. */
export async function writePrivateFile(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(temp, text, { mode: 0o600, flag: "wx" });
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
