import { type Hex, keccak256, stringToBytes } from "viem";

/**
 * The contract's dedupe key for an order (or membership payment): keccak256 of the UTF-8 bytes of its
 * reference. `stringToBytes`, not `toBytes`: the latter would read a reference that looks like hex
 * ("0xAB…") as raw bytes.
 */
export function orderRefHash(orderReference: string): Hex {
  return keccak256(stringToBytes(orderReference));
}
