/**
 * The few S3 XML documents the S3 driver reads and writes, parsed by hand: S3 responses are flat,
 * machine-written XML (no CDATA, no nesting of an element inside one of the same name), so a
 * regex over elements plus entity decoding is correct for them and saves an XML parser dependency
 * in the short-lived run process. Pure functions, unit-tested in test/storage/s3-xml.test.ts.
 */

const NAMED_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Decodes the five XML named entities and numeric character references (&#38; &#x26;). */
export function decodeXmlEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, entity: string) => {
    if (entity.startsWith("#x")) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith("#")) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
    return NAMED_ENTITIES[entity] ?? whole;
  });
}

/** Escapes text for an XML element body. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&${Object.keys(NAMED_ENTITIES).find((name) => NAMED_ENTITIES[name] === char)};`);
}

/** The raw (undecoded) inner text of every `<tag>` element in `xml`, in document order. */
export function xmlElements(xml: string, tag: string): string[] {
  const pattern = new RegExp(`<${tag}(?:\\s[^>]*)?(?:/>|>([\\s\\S]*?)</${tag}\\s*>)`, "g");
  return [...xml.matchAll(pattern)].map((match) => match[1] ?? "");
}

/** The decoded text of the first `<tag>` element, or undefined if there is none. */
export function xmlText(xml: string, tag: string): string | undefined {
  const [first] = xmlElements(xml, tag);
  return first === undefined ? undefined : decodeXmlEntities(first);
}

/** Strips the double quotes S3 puts around ETags (the store interface's etags are unquoted). */
export function unquoteEtag(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

export interface ListedObject {
  key: string;
  etag: string;
  size: number;
  lastModified: Date;
}

export interface ListObjectsV2Page {
  objects: ListedObject[];
  prefixes: string[];
  nextContinuationToken?: string;
}

/**
 * Parses a ListObjectsV2 response.
 * See https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 */
export function parseListObjectsV2(xml: string): ListObjectsV2Page {
  const objects = xmlElements(xml, "Contents").map((contents) => ({
    key: xmlText(contents, "Key") ?? "",
    etag: unquoteEtag(xmlText(contents, "ETag") ?? ""),
    size: Number(xmlText(contents, "Size") ?? 0),
    lastModified: new Date(xmlText(contents, "LastModified") ?? 0),
  }));
  // Prefix also appears at the top level (the request's prefix), so read it only inside CommonPrefixes.
  const prefixes = xmlElements(xml, "CommonPrefixes").map((group) => xmlText(group, "Prefix") ?? "");
  const truncated = xmlText(xml, "IsTruncated") === "true";
  const token = xmlText(xml, "NextContinuationToken");
  return { objects, prefixes, nextContinuationToken: truncated && token ? token : undefined };
}

export interface S3ErrorBody {
  code?: string;
  message?: string;
}

/** Parses an S3 `<Error>` body; tolerates an empty or non-XML body (HEAD responses have none). */
export function parseS3Error(xml: string): S3ErrorBody {
  return { code: xmlText(xml, "Code"), message: xmlText(xml, "Message") };
}

/** The key and code of each `<Error>` in a DeleteObjects response (quiet mode lists only failures). */
export function parseDeleteErrors(xml: string): Array<{ key: string; code: string; message: string }> {
  return xmlElements(xml, "Error").map((error) => ({
    key: xmlText(error, "Key") ?? "",
    code: xmlText(error, "Code") ?? "",
    message: xmlText(error, "Message") ?? "",
  }));
}

/**
 * The body of a DeleteObjects request (quiet: the response lists only failures).
 * See https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html
 */
export function deleteObjectsXml(keys: readonly string[]): string {
  const objects = keys.map((key) => `<Object><Key>${escapeXml(key)}</Key></Object>`).join("");
  return `<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>${objects}</Delete>`;
}

/**
 * The body of a CompleteMultipartUpload request.
 * See https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html
 */
export function completeMultipartXml(parts: ReadonlyArray<{ partNumber: number; etag: string }>): string {
  const body = parts
    .map((part) => `<Part><PartNumber>${part.partNumber}</PartNumber><ETag>"${escapeXml(part.etag)}"</ETag></Part>`)
    .join("");
  return `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload>${body}</CompleteMultipartUpload>`;
}
