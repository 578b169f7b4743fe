/** Content negotiation of the gzip copies (RFC 9110 §12.5.3). */

/**
 * The Accept-Encoding the client sent. Cloudflare rewrites the header a Worker sees (to "br, gzip")
 * and keeps the client's own value in `request.cf.clientAcceptEncoding`, which wrangler dev
 * emulates; a request without `cf` (a test's) has only the header.
 * https://developers.cloudflare.com/workers/runtime-apis/request/#incomingrequestcfproperties
 */
export function clientAcceptEncoding(request: Request): string | undefined {
  const cf = (request as { cf?: { clientAcceptEncoding?: unknown } }).cf;
  return typeof cf?.clientAcceptEncoding === "string" ? cf.clientAcceptEncoding : (request.headers.get("Accept-Encoding") ?? undefined);
}

/**
 * Whether the client takes gzip (RFC 9110 §12.5.3): it names `gzip` (or `x-gzip`, or `*`) with a
 * q-value above 0, and does not refuse gzip by name. Pure.
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  const weights = new Map<string, number>();
  for (const member of header.split(",")) {
    const [coding, ...params] = member.trim().toLowerCase().split(";");
    const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    if (coding) weights.set(coding.trim(), q === undefined ? 1 : Number(q));
  }
  const gzip = weights.get("gzip") ?? weights.get("x-gzip") ?? weights.get("*");
  return gzip !== undefined && gzip > 0;
}
