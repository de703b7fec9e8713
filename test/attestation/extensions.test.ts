/**
 * The one X.509 extension walker (lambda/attestation/extensions.ts): every certificate the
 * project reads goes through it, and a certificate carrying any extension twice is refused
 * (RFC 5280 §4.2; Go's crypto/x509, which Contrast parses with, refuses it too).
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  collateralFile,
  parseCollateralFile,
  type CollateralKey,
} from '../../lambda/attestation/collateral/sources.ts';
import { certificateExtensions, extensionMap } from '../../lambda/attestation/extensions.ts';
import { ATTESTATION_OIDS } from '../../lambda/attestation/verifier.ts';
import { Cert } from '../../lambda/attestation/x509.ts';
import { extractAttestationExtension } from '../../lambda/coordinator/certificates.ts';
import { buildCert, name, type Extension } from '../../testing/evidence/certs.ts';

const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const cert = (extensions: Extension[]) =>
  buildCert({
    serial: 5,
    issuer: name('t'),
    subject: name('t'),
    notBefore: new Date(0),
    notAfter: new Date(2 ** 41),
    publicKey: key.publicKey,
    signingKey: key.privateKey,
    alg: 'ecdsa-sha256',
    extensions,
  });
const ext = (oid: string, byte: number, critical = false): Extension => ({
  oid,
  value: new Uint8Array([0x04, 1, byte]),
  critical,
});

describe('the extension walker', () => {
  it('reads every extension in order, with its critical flag, duplicates kept for counting', () => {
    const list = certificateExtensions(cert([ext('1.2.3.4', 1, true), ext('1.2.3.5', 2), ext('1.2.3.4', 3)]));
    expect(list.map((e) => [e.oid, e.critical, e.value[2]])).toEqual([
      ['1.2.3.4', true, 1],
      ['1.2.3.5', false, 2],
      ['1.2.3.4', false, 3],
    ]);
  });

  it('a map of them refuses any extension given twice instead of keeping one of the values', () => {
    const der = cert([ext('1.2.3.4', 1), ext('1.2.3.4', 2)]);
    expect(() => extensionMap(certificateExtensions(der), 'the test certificate')).toThrow(
      /the test certificate carries extension 1\.2\.3\.4 more than once/,
    );
    expect(() => Cert.parse(der, 'VCEK')).toThrow(/VCEK carries extension 1\.2\.3\.4 more than once/);
    expect(Cert.parse(cert([ext('1.2.3.4', 1), ext('1.2.3.5', 2)]), 'VCEK').extensions.size).toBe(2);
  });

  it("the Coordinator's certificate: exactly one attestation extension, and no other extension twice", () => {
    const evidence = (oid: string) => ({ oid, value: new Uint8Array([0x04, 2, 0xaa, 0xbb]) });
    expect(extractAttestationExtension(cert([evidence(ATTESTATION_OIDS.snp)])).oid).toBe(ATTESTATION_OIDS.snp);
    expect(() =>
      extractAttestationExtension(cert([evidence(ATTESTATION_OIDS.snp), evidence(ATTESTATION_OIDS.snp)])),
    ).toThrow(/2 attestation extensions .*exactly one/);
    expect(() =>
      extractAttestationExtension(cert([evidence(ATTESTATION_OIDS.snp), evidence(ATTESTATION_OIDS.tdx)])),
    ).toThrow(/2 attestation extensions/);
    expect(() =>
      extractAttestationExtension(cert([evidence(ATTESTATION_OIDS.snp), ext('2.5.29.14', 1), ext('2.5.29.14', 2)])),
    ).toThrow(/carries extension 2\.5\.29\.14 more than once/);
  });
});

describe('collateral names', () => {
  it('the VLEK chain has its own product CRL, named apart from the VCEK one and read back exactly', () => {
    const vlek: CollateralKey = { kind: 'snp-crl', product: 'Milan', signer: 'vlek' };
    const vcek: CollateralKey = { kind: 'snp-crl', product: 'Milan' };
    expect(collateralFile(vlek)).toBe('vlek/v1/Milan/crl');
    expect(collateralFile(vcek)).toBe('vcek/v1/Milan/crl');
    expect(parseCollateralFile('vlek/v1/Milan/crl')).toEqual(vlek);
    expect(parseCollateralFile('vcek/v1/Milan/crl')).toEqual(vcek);
  });
});
