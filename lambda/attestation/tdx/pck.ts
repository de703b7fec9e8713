/** Intel SGX extensions of the PCK certificate (OID 1.2.840.113741.1.13.1): TCB, PCE ID, FMSPC. */
import { AttestationError } from '../../shared/errors.ts';
import { children, content, decodeOid, decodeSmallUint, readTlv, type Tlv } from '../der.ts';
import type { Cert } from '../x509.ts';

const SGX_EXT = '1.2.840.113741.1.13.1';

export interface PckExtensions {
  fmspc: string;
  pceId: string;
  pceSvn: number;
  /** The 16 SGX TCB component SVNs. */
  cpuSvnComponents: number[];
}

export function parsePckExtensions(pck: Cert): PckExtensions {
  const ext = pck.extensions.get(SGX_EXT);
  if (!ext) throw new AttestationError('tdx.chain', 'the PCK certificate lacks the Intel SGX extensions');
  try {
    const entries = (seq: Tlv) =>
      new Map(
        children(ext, seq).map((e) => {
          const [oid, val] = children(ext, e);
          return [decodeOid(content(ext, oid!)), val!] as const;
        }),
      );
    const top = entries(readTlv(ext, 0));
    const get = (m: Map<string, Tlv>, oid: string) => {
      const t = m.get(oid);
      if (!t) throw new Error(`missing ${oid}`);
      return t;
    };
    const tcb = entries(get(top, `${SGX_EXT}.2`));
    const comps: number[] = [];
    for (let i = 1; i <= 16; i++) comps.push(decodeSmallUint(content(ext, get(tcb, `${SGX_EXT}.2.${i}`)), `SGX TCB component ${i}`));
    return {
      fmspc: Buffer.from(content(ext, get(top, `${SGX_EXT}.4`))).toString('hex'),
      pceId: Buffer.from(content(ext, get(top, `${SGX_EXT}.3`))).toString('hex'),
      pceSvn: decodeSmallUint(content(ext, get(tcb, `${SGX_EXT}.2.17`)), 'PCESVN'),
      cpuSvnComponents: comps,
    };
  } catch (err) {
    throw new AttestationError('tdx.chain', `the PCK certificate's SGX extensions are malformed: ${(err as Error).message}`);
  }
}
