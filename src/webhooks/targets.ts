import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";

/**
 * SSRF guard of outbound webhooks: a target whose address is private, loopback, link-local (or
 * otherwise not globally routable) is refused unless `WEBHOOK_ALLOW_PRIVATE_TARGETS=1`. A name is
 * resolved ONCE per connection, by the `lookup` given to node:http(s), and the socket connects to the
 * address that lookup checked — a DNS answer cannot change between the check and the connect.
 */

const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  BLOCKED.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7],
  ["fe80::", 10],
  ["fec0::", 10],
  ["ff00::", 8],
] as const) {
  BLOCKED.addSubnet(network, prefix, "ipv6");
}

/** An IPv4 address carried in an IPv6 one (`::ffff:a.b.c.d`, `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`). */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const high = Number.parseInt(hex[1]!, 16);
  const low = Number.parseInt(hex[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** Why an address may not be a webhook target, or undefined when it is globally routable. */
export function blockedReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return `${address} is not an IP address`;
  const v4 = family === 6 ? embeddedIpv4(address) : address;
  if (v4 && isIP(v4) === 4) {
    return BLOCKED.check(v4, "ipv4") ? `${address} is a private, loopback or link-local address` : undefined;
  }
  return BLOCKED.check(address, "ipv6")
    ? `${address} is a private, loopback or link-local address`
    : undefined;
}

export class BlockedTargetError extends Error {
  readonly code = "EWEBHOOKTARGET";
  constructor(reason: string) {
    super(`webhook target refused: ${reason} (WEBHOOK_ALLOW_PRIVATE_TARGETS=1 allows it)`);
    this.name = "BlockedTargetError";
  }
}

/** The host of a URL as an address or name (`[::1]` → `::1`). */
export function hostOf(url: URL): string {
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

/** A `lookup` for node:http(s) that refuses blocked addresses (every one the name resolves to). */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, "", 4);
      if (addresses.length === 0) return callback(new Error(`${hostname} does not resolve`), "", 4);
      if (!allowPrivate) {
        for (const entry of addresses) {
          const reason = blockedReason(entry.address);
          if (reason) return callback(new BlockedTargetError(`${hostname} resolves to ${reason}`), "", 4);
        }
      }
      if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/**
 * Checks a target URL when an endpoint is created: http(s) only; an address literal, or every address
 * a name resolves to now, must not be blocked (the delivery checks again at every connection).
 * @returns a reason to refuse, or undefined.
 */
export async function targetProblem(raw: string, allowPrivate: boolean): Promise<string | undefined> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "is not a URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be http or https";
  if (url.username || url.password) return "must not carry credentials";
  if (allowPrivate) return undefined;
  const host = hostOf(url);
  if (isIP(host)) return blockedReason(host);
  const addresses = await new Promise<LookupAddress[]>((resolve) =>
    dnsLookup(host, { all: true }, (error, found) => resolve(error ? [] : found)),
  );
  for (const entry of addresses) {
    const reason = blockedReason(entry.address);
    if (reason) return `${host} resolves to ${reason}`;
  }
  return undefined;
}
