/**
 * The admin token of a local `npm start`. Each start makes a fresh random token (shared by the
 * local Worker and the runs) and leaves it, readable only by its owner, beside the local state, so
 * the operator commands and the status page work locally without copying it around. Removed when
 * `npm start` stops.
 */
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { writePrivateFile } from "./private-file.ts";

export const LOCAL_TOKEN_FILE = "edgesnap-admin-token";

export function localTokenPath(persistTo: string): string {
  return path.join(persistTo, LOCAL_TOKEN_FILE);
}

/** Writes the token with mode 0600. */
export async function writeLocalToken(persistTo: string, token: string): Promise<string> {
  const file = localTokenPath(persistTo);
  await writePrivateFile(file, `${token}\n`);
  return file;
}

/** The token of the running local start, or undefined when there is none. */
export function readLocalToken(persistTo: string): string | undefined {
  try {
    return readFileSync(localTokenPath(persistTo), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function removeLocalToken(persistTo: string): Promise<void> {
  await rm(localTokenPath(persistTo), { force: true });
}
