import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile } from "node:fs/promises";
import path from "node:path";
import pl from "nodejs-polars";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSources } from "../../compute/dataset/sources.ts";
import { vegaDataPath } from "../../compute/examples/vega.ts";
import { makeTempDir } from "./helpers.ts";

let temp: Awaited<ReturnType<typeof makeTempDir>>;
let server: Server;
let base: string;
beforeAll(async () => {
  temp = await makeTempDir("sources");
  server = createServer((request, response) => {
    if (request.url === "/data/cities.csv") {
      response.writeHead(200, { "content-type": "text/csv" }).end("city,population\nOslo,709000\nBergen,291000\n");
    } else {
      response.writeHead(404).end("no");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await temp.remove();
});

describe("ctx.sources", () => {
  const sources = () => createSources({ pl, tempDir: temp.dir });

  it("downloads an HTTP source into the run's temp dir", async () => {
    const local = await sources().http(`${base}/data/cities.csv`);
    expect(local.startsWith(temp.dir + path.sep)).toBe(true);
    expect(path.basename(local)).toBe("cities.csv");
    expect(await readFile(local, "utf8")).toContain("Oslo,709000");
  });

  it("reads a CSV straight from a URL", async () => {
    const df = await sources().csv(`${base}/data/cities.csv`);
    expect(df.toRecords()).toEqual([
      { city: "Oslo", population: 709000 },
      { city: "Bergen", population: 291000 },
    ]);
  });

  it("fails a download that answers 404 with a build-failed error naming the URL", async () => {
    await expect(sources().http(`${base}/missing.csv`)).rejects.toMatchObject({ code: "build-failed", message: expect.stringMatching(/missing\.csv: HTTP 404/) });
  });

  it("fails a missing local file with a build-failed error naming it", async () => {
    await expect(sources().parquet("no/such/file.parquet")).rejects.toMatchObject({ code: "build-failed", message: "source not found: no/such/file.parquet" });
  });

  it("reads and scans the bundled Parquet and CSV files", async () => {
    const airports = await sources().csv(vegaDataPath("airports.csv"));
    expect(airports.columns).toContain("iata");
    const lazy = await sources().scanParquet(vegaDataPath("flights-3m.parquet"));
    const counted = await lazy.select(pl.len().alias("n")).collect();
    expect(counted.getColumn("n").get(0)).toBe(3_000_000);
  });
});
