/**
 * A hand-written SVG line chart (no packages): memory in MB over seconds, one polyline per series.
 */
export interface Series {
  label: string;
  color: string;
  points: [seconds: number, mb: number][];
  thin?: boolean;
}

const WIDTH = 960;
const HEIGHT = 480;
const PAD = { left: 70, right: 20, top: 40, bottom: 110 };

export function renderHeartbeatSvg(series: Series[], title: string): string {
  const all = series.flatMap((s) => s.points);
  const maxX = Math.max(1, ...all.map((p) => p[0]));
  const maxY = niceCeil(Math.max(1, ...all.map((p) => p[1])));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (s: number) => PAD.left + (s / maxX) * plotW;
  const y = (mb: number) => PAD.top + plotH - (mb / maxY) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const mb = (maxY / 5) * i;
    out.push(
      `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(mb)}" y2="${y(mb)}" stroke="#ddd"/>`,
      `<text x="${PAD.left - 8}" y="${y(mb) + 4}" text-anchor="end">${Math.round(mb)}</text>`,
    );
    const s = (maxX / 5) * i;
    out.push(`<text x="${x(s)}" y="${PAD.top + plotH + 18}" text-anchor="middle">${Math.round(s)}</text>`);
  }
  out.push(
    `<text x="${PAD.left + plotW / 2}" y="${PAD.top + plotH + 36}" text-anchor="middle">seconds</text>`,
    `<text transform="translate(18 ${PAD.top + plotH / 2}) rotate(-90)" text-anchor="middle">RSS (MB)</text>`,
  );
  for (const s of series) {
    const points = s.points.map(([sec, mb]) => `${x(sec).toFixed(1)},${y(mb).toFixed(1)}`).join(" ");
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="${s.thin ? 0.8 : 2}" points="${points}"/>`);
  }
  series.forEach((s, i) => {
    const ly = PAD.top + plotH + 58 + i * 18;
    out.push(
      `<line x1="${PAD.left}" x2="${PAD.left + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="3"/>`,
      `<text x="${PAD.left + 38}" y="${ly}">${escapeXml(s.label)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

function niceCeil(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
