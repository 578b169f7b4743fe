import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Two kinds of test, two runtimes: Worker code runs inside workerd (the same runtime Cloudflare
// runs), compute code and end-to-end tests run in Node against real processes.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: { EDGESNAP_TOKEN: "test-token-0123456789abcdef0123456789abcdef" } } })],
        // A shared CI machine can be slow: a test that streams tens of MiB through workerd must not time out.
        test: { name: "edge", include: ["test/edge/**/*.test.ts"], testTimeout: 30_000 },
      },
      {
        test: {
          name: "node",
          include: ["test/**/*.test.ts"],
          exclude: ["test/edge/**"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
