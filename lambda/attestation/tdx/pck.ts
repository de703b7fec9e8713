/**
 * Intel SGX extensions of the PCK certificate (OID 1.2.840.113741.1.13.1), read as
 * go-tdx-guest's pcs.PckCertificateExtensions reads them (edgelesssys/go-tdx-guest
 * pcs/pcs.go, the fork Contrast pins): the certificate has exactly six extensions; inside the
 * SGX extension the TCB, PCE ID and FMSPC are required, SGX Type, PIID and the platform
 * configuration (DynamicPlatform, CachedKeys, SMTEnabled) are read when present (absent
 * means 0 / false, as there), and an unknown configuration item is refused.
 */
import { AttestationError } from '../../shared/errors.ts';
import { children, content, decodeOid, decodeSmallUint, expectTag, readTlv, type Tlv } from '../der.ts';
import type { Cert } from '../x509.ts';

const SGX_EXT = '1.2.840.113741.1.13.1';
const PCK_EXTENSION_COUNT = 6;
const CONFIG_ITEMS: Record<string, keyof PckConfiguration> = {
  [`${SGX_EXT}.7.1`]: 'dynamicPlatform',
  [`${SGX_EXT}.7.2`]: 'cachedKeys',
  [`${SGX_EXT}.7.3`]: 'smtEnabled',
};

/** SGX Type values (pcs.go SGXType): Standard 0, Scalable 1, ScalableWithIntegrity 2. */
export const SGX_TYPE_SCALABLE_WITH_INTEGRITY = 2;

export interface PckConfiguration {
  dynamicPlatform: boolean;
  cachedKeys: boolean;
  smtEnabled: boolean;
}

export interface PckExtensions {
  fmspc: string;
  pceId: string;
  pceSvn: number;
  /** The 16 SGX TCB component SVNs. */
  cpuSvnComponents: number[];
  sgxType: number;
  /** Platform instance ID (multi-package platforms), lowercase hex; absent on single-package ones. */
  piid?: string;
  configuration: PckConfiguration;
}

export function parsePckExtensions(pck: Cert): PckExtensions {
  if (pck.extensions.size !== PCK_EXTENSION_COUNT) {
    throw new AttestationError(
      'tdx.chain',
      `the PCK certificate has ${pck.extensions.size} extensions; go-tdx-guest accepts only PCK certificates with ${PCK_EXTENSION_COUNT}`,
    );
  }
  const ext = pck.extensions.get(SGX_EXT);
  if (!ext) throw new AttestationError('tdx.chain', 'the PCK certificate lacks the Intel SGX extensions');
  try {
    const entries = (seq: Tlv) => {
      const m = new Map<string, Tlv>();
      for (const e of children(ext, seq)) {
        const [oid, val] = children(ext, expectTag(e, 0x30, 'SGX extension entry'));
        const name = decodeOid(content(ext, expectTag(oid, 0x06, 'SGX extension OID')));
        if (m.has(name)) throw new Error(`${name} appears twice`);
        if (!val) throw new Error(`${name} has no value`);
        m.set(name, val);
      }
      return m;
    };
    const top = entries(expectTag(readTlv(ext, 0), 0x30, 'SGX extensions'));
    if (top.size < 4) throw new Error(`only ${top.size} entries (at least 4 expected)`);
    const get = (m: Map<string, Tlv>, oid: string) => {
      const t = m.get(oid);
      if (!t) throw new Error(`missing ${oid}`);
      return t;
    };
    const octets = (oid: string, size: number) => {
      const t = expectTag(get(top, oid), 0x04, oid);
      if (t.end - t.contentStart !== size)
        throw new Error(`${oid} is ${t.end - t.contentStart} bytes, expected ${size}`);
      return Buffer.from(content(ext, t)).toString('hex');
    };
    const tcb = entries(get(top, `${SGX_EXT}.2`));
    const comps: number[] = [];
    for (let i = 1; i <= 16; i++)
      comps.push(decodeSmallUint(content(ext, get(tcb, `${SGX_EXT}.2.${i}`)), `SGX TCB component ${i}`));
    const typeTlv = top.get(`${SGX_EXT}.5`);
    const configTlv = top.get(`${SGX_EXT}.7`);
    const configuration: PckConfiguration = { dynamicPlatform: false, cachedKeys: false, smtEnabled: false };
    if (configTlv) {
      for (const [oid, val] of entries(expectTag(configTlv, 0x30, 'configuration'))) {
        const item = CONFIG_ITEMS[oid];
        if (!item) throw new Error(`unsupported configuration item ${oid}`);
        const b = content(ext, expectTag(val, 0x01, `configuration item ${oid}`));
        if (b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff))
          throw new Error(`configuration item ${oid} is not a DER BOOLEAN`);
        configuration[item] = b[0] === 0xff;
      }
    }
    return {
      fmspc: octets(`${SGX_EXT}.4`, 6),
      pceId: octets(`${SGX_EXT}.3`, 2),
      pceSvn: decodeSmallUint(content(ext, get(tcb, `${SGX_EXT}.2.17`)), 'PCESVN'),
      cpuSvnComponents: comps,
      sgxType: typeTlv ? decodeSmallUint(content(ext, expectTag(typeTlv, 0x0a, 'SGX Type')), 'SGX Type') : 0,
      ...(top.has(`${SGX_EXT}.6`) ? { piid: octets(`${SGX_EXT}.6`, 16) } : {}),
      configuration,
    };
  } catch (err) {
    throw new AttestationError(
      'tdx.chain',
      `the PCK certificate's SGX extensions are malformed: ${(err as Error).message}`,
    );
  }
}
