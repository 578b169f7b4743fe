/**
 * Runs s3rver in its own process for the S3 tests: `node --openssl-legacy-provider
 * s3rver-process.ts <directory> <bucket>`. s3rver encrypts ListObjectsV2 continuation tokens with
 * DES, which Node 22's OpenSSL 3 only offers through the legacy provider, a flag that must be set
 * at process start. Prints `{"port":N}` once listening; exits when stdin closes, so it never
 * outlives the test process that started it.
 */
import S3rver from "s3rver";

const [directory, bucket] = process.argv.slice(2);
if (!directory || !bucket) throw new Error("usage: s3rver-process.ts <directory> <bucket>");

const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  silent: true,
  directory,
  vhostBuckets: false,
  configureBuckets: [{ name: bucket }],
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);

const stop = () => {
  void server.close().finally(() => process.exit(0));
};
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
