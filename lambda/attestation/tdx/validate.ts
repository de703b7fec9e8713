/**
 * TDX claims against the manifest's `ReferenceValues.tdx[]`: MRTD, RTMRs, MRSEAM, XFAM,
 * TD attributes, and MRCONFIGID equal to a coordinator policy hash zero-padded to 48 bytes.
 */
import { AttestationError } from '../../shared/errors.ts';
import { hex } from '../bytes.ts';
import { firstMatchingReference, NO_LOG, type CheckSink } from '../checks.ts';
import type { TdxReference } from '../reference.ts';
import type { TdBody } from './abi.ts';

const TD_DEBUG = 1n << 0n;
const SEPT_VE_DISABLE = 1n << 28n;

function fail(check: string, message: string): never {
  throw new AttestationError(check, message);
}

/** TD attributes are a little-endian u64. */
function u64le(b: Uint8Array): bigint {
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

export function validateTdxEntry(body: TdBody, ref: TdxReference, policyHashes: readonly string[], log: CheckSink = NO_LOG): void {
  const attrs = u64le(body.tdAttributes);
  if (attrs & TD_DEBUG) fail('tdx.td-attributes.debug', `TD attributes ${hex(body.tdAttributes)} enable debugging: a debuggable TD is always refused`);
  if (ref.TdAttributes !== undefined) {
    if (hex(body.tdAttributes) !== ref.TdAttributes) fail('tdx.td-attributes', `TD attributes: expected ${ref.TdAttributes}, got ${hex(body.tdAttributes)}`);
  } else if (!(attrs & SEPT_VE_DISABLE)) {
    fail('tdx.td-attributes', `TD attributes ${hex(body.tdAttributes)}: SEPT_VE_DISABLE (bit 28) must be set`);
  }
  log.pass('tdx.td-attributes', hex(body.tdAttributes));
  if (hex(body.mrTd) !== ref.MrTd) fail('tdx.mrtd', `MRTD: expected ${ref.MrTd}, got ${hex(body.mrTd)}`);
  log.pass('tdx.mrtd', ref.MrTd);
  for (let i = 0; i < 4; i++) {
    if (hex(body.rtmrs[i]!) !== ref.Rtmrs[i]) fail(`tdx.rtmr${i}`, `RTMR${i}: expected ${ref.Rtmrs[i]}, got ${hex(body.rtmrs[i]!)}`);
  }
  log.pass('tdx.rtmrs', 'RTMR0..3 match');
  if (ref.MrSeam !== undefined) {
    if (hex(body.mrSeam) !== ref.MrSeam) fail('tdx.mrseam', `MRSEAM: expected ${ref.MrSeam}, got ${hex(body.mrSeam)}`);
    log.pass('tdx.mrseam', ref.MrSeam);
  }
  if (hex(body.xfam) !== ref.Xfam) fail('tdx.xfam', `XFAM: expected ${ref.Xfam}, got ${hex(body.xfam)}`);
  log.pass('tdx.xfam', ref.Xfam);
  const cfg = hex(body.mrConfigId);
  const policy = cfg.slice(0, 64);
  if (!/^0+$/.test(cfg.slice(64)) || !policyHashes.includes(policy)) {
    fail('tdx.mrconfigid', `MRCONFIGID: expected a coordinator policy hash of the manifest (${policyHashes.join(', ') || 'none listed'}) followed by 16 zero bytes, got ${cfg}`);
  }
  log.pass('tdx.mrconfigid', policy);
}

export function validateTdx(body: TdBody, refs: readonly TdxReference[], policyHashes: readonly string[], log: CheckSink = NO_LOG): TdxReference {
  if (refs.length === 0) fail('tdx.reference-values', 'the manifest has no TDX reference values (ReferenceValues.tdx is empty), so TDX evidence cannot be accepted');
  return firstMatchingReference('tdx', refs, (ref, l) => validateTdxEntry(body, ref, policyHashes, l), log);
}
