import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Two kinds of test, two runtimes: Worker code runs inside workerd (the same runtime Cloudflare
// runs), compute code and end-to-end tests run in Node against real processes.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: { EDGESNAP_TOKEN: "test-token" } } })],
        test: { name: "edge", include: ["test/edge/**/*.test.ts"] },
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
