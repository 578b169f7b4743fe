/** The hand-written S3 XML parsing and building (pure functions). */
import { describe, expect, test } from "vitest";
import {
  completeMultipartXml,
  decodeXmlEntities,
  deleteObjectsXml,
  escapeXml,
  parseDeleteErrors,
  parseListObjectsV2,
  parseS3Error,
  unquoteEtag,
} from "../../compute/storage/s3-xml.ts";

describe("XML entities", () => {
  test("decodes the five named entities and decimal and hex character references", () => {
    expect(decodeXmlEntities("a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233; &#x2708; &#X41;")).toBe(
      "a & b <c> \"d\" 'e' é ✈ &#X41;",
    );
  });

  test("decodes &amp;lt; once, to the text &lt;, not to <", () => {
    expect(decodeXmlEntities("&amp;lt;")).toBe("&lt;");
  });

  test("escaping then decoding returns the original text", () => {
    const text = `a&b<c>"d"'e' &amp;`;
    expect(decodeXmlEntities(escapeXml(text))).toBe(text);
    expect(escapeXml(text)).not.toMatch(/[<>"']/);
  });
});

describe("parseListObjectsV2", () => {
  const page = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>snapshots</Name>
  <Prefix>datasets/</Prefix>
  <Delimiter>/</Delimiter>
  <MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents>
    <Key>datasets/a &amp; b.json</Key>
    <LastModified>2026-11-23T10:15:00.000Z</LastModified>
    <ETag>&quot;5d41402abc4b2a76b9719d911017c592&quot;</ETag>
    <Size>5</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <CommonPrefixes><Prefix>datasets/airport-delays/</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>datasets/&lt;odd&gt;/</Prefix></CommonPrefixes>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>`;

  test("reads keys, unquoted etags, sizes and dates, with entities decoded", () => {
    expect(parseListObjectsV2(page).objects).toEqual([
      { key: "datasets/a & b.json", etag: "5d41402abc4b2a76b9719d911017c592", size: 5, lastModified: new Date("2026-11-23T10:15:00.000Z") },
    ]);
  });

  test("reads prefixes only from CommonPrefixes, not the request's own Prefix", () => {
    expect(parseListObjectsV2(page).prefixes).toEqual(["datasets/airport-delays/", "datasets/<odd>/"]);
  });

  test("returns the continuation token only when the listing is truncated", () => {
    expect(parseListObjectsV2(page).nextContinuationToken).toBe("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    expect(parseListObjectsV2(page.replace("<IsTruncated>true", "<IsTruncated>false")).nextContinuationToken).toBeUndefined();
  });

  test("an empty listing with self-closing elements has no objects and no prefixes", () => {
    const empty = `<ListBucketResult><Name>b</Name><Prefix/><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`;
    expect(parseListObjectsV2(empty)).toEqual({ objects: [], prefixes: [], nextContinuationToken: undefined });
  });
});

describe("errors", () => {
  test("parseS3Error reads Code and Message, and tolerates an empty body", () => {
    expect(parseS3Error("<Error><Code>PreconditionFailed</Code><Message>At least one &amp; more</Message></Error>")).toEqual({
      code: "PreconditionFailed",
      message: "At least one & more",
    });
    expect(parseS3Error("")).toEqual({ code: undefined, message: undefined });
  });

  test("parseDeleteErrors lists each failed key of a DeleteObjects response", () => {
    const xml = `<DeleteResult><Error><Key>a&amp;b</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>`;
    expect(parseDeleteErrors(xml)).toEqual([{ key: "a&b", code: "AccessDenied", message: "no" }]);
    expect(parseDeleteErrors("<DeleteResult></DeleteResult>")).toEqual([]);
  });
});

describe("request bodies", () => {
  test("deleteObjectsXml escapes keys and asks for a quiet answer", () => {
    expect(deleteObjectsXml(["a<b", "c&d"])).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet><Object><Key>a&lt;b</Key></Object><Object><Key>c&amp;d</Key></Object></Delete>',
    );
  });

  test("completeMultipartXml lists parts in order with quoted etags", () => {
    expect(completeMultipartXml([{ partNumber: 1, etag: "abc" }, { partNumber: 2, etag: "def" }])).toContain(
      '<Part><PartNumber>1</PartNumber><ETag>"abc"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>"def"</ETag></Part>',
    );
  });

  test("unquoteEtag strips quotes and a weak prefix, and leaves bare etags alone", () => {
    expect(unquoteEtag('"abc-3"')).toBe("abc-3");
    expect(unquoteEtag('W/"abc"')).toBe("abc");
    expect(unquoteEtag("abc")).toBe("abc");
  });
});
