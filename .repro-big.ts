import { defineDataset } from "./compute/dataset/define.ts";
export default [
  defineDataset({
    name: "big",
    schedule: "0 0 1 1 *",
    limits: { timeoutMs: 600_000, memoryBytes: 8 * 1024 ** 3 },
    build: ({ pl }) => {
      const n = Number(process.env.BIG_ROWS ?? 2_000_000);
      return pl.DataFrame({ id: Array.from({ length: n }, (_, i) => i), text: Array.from({ length: n }, (_, i) => `row number ${i} with some padding text to make it larger`) });
    },
  }),
];
