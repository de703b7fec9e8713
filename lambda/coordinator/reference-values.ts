/**
 * The manifest's `ReferenceValues`, read as the Contrast release that wrote it reads them, and
 * refused early and by name when the project cannot judge them exactly as that release does.
 *
 * Upstream (edgelesssys/contrast internal/manifest/referencevalues.go and manifest.go, every
 * stored version; docs/compatibility.md lists them): the structs carry no JSON tags except
 * `snp`/`tdx`, so keys are the Go field names, matched case-insensitively (go-json.ts);
 * `Validate()` refuses what the Coordinator refuses (SVNs missing, products other than Milan
 * and Genoa, hex of the wrong length, a guest policy other than the default from 2025-04 on);
 * `SNPValidateOpts`/`TDXValidateOpts` turn the values into go-sev-guest / go-tdx-guest options.
 * Each shape's field set decides which of those rules apply (REFERENCE_SHAPES).
 *
 * Refused although some release would accept it (each named in the message):
 *  - fields no supported shape has (a newer release, or a typo Go would ignore silently);
 *  - fields of different releases in one manifest (no release writes both);
 *  - values whose meaning depends on a library version we cannot tell (e.g. `PageSwapDisable:
 *    true` before the `Platform` shape) and `APEIP` (vCPU-count measurement sets, not implemented);
 *  - a debuggable guest (`GuestPolicy.Debug`, TD attribute DEBUG): the seed would be readable
 *    by the host, so the project never sends it there (a deliberate deviation).
 */
import { InputError } from '../shared/errors.ts';
import {
  REFERENCE_SHAPES,
  SNP_PRODUCTS,
  type ContrastSnpProduct,
  type ReferenceShape,
  type ReferenceValues,
  type SnpGuestPolicy,
  type SnpPlatformInfo,
  type SnpReference,
  type TdxReference,
} from '../attestation/reference.ts';
import { JsonNumber, JsonObject, bindFields, describeJson, goFloat, goInt, goUint, type JsonValue } from './go-json.ts';

/** Contrast fixes the TD attributes to SEPT_VE_DISABLE (bit 28) from the `platform-marker` shape on. */
export const CONTRAST_TD_ATTRIBUTES = '0000001000000000';

/**
 * Platforms Contrast names (internal/platforms/platforms.go, every stored version). Contrast
 * skips entries of *insecure* platforms; none of these is one, and which names are insecure
 * is not in any stored version, so any other Platform value is refused by name.
 */
const KNOWN_PLATFORMS = [
  'AKS-CLH-SNP',
  'K3s-QEMU-TDX',
  'K3s-QEMU-SNP',
  'K3s-QEMU-SNP-GPU',
  'RKE2-QEMU-TDX',
  'Metal-QEMU-SNP',
  'Metal-QEMU-SNP-GPU',
  'Metal-QEMU-TDX',
] as const;

const SHAPES_HELP =
  'docs/compatibility.md lists the Contrast releases and reference-value shapes this project supports';

const SNP_FIELDS = [
  'MinimumTCB',
  'ProductName',
  'TrustedMeasurement',
  'GuestPolicy',
  'PlatformInfo',
  'Platform',
  'MinimumMitigationVector',
  'AllowedChipIDs',
  'CPUs',
  'APEIP',
] as const;
const TDX_FIELDS = [
  'Platform',
  'MinTCBEvaluationDataNumber',
  'MrTd',
  'MrSeam',
  'Rtmrs',
  'Rtrms',
  'Xfam',
  'TdAttributes',
  'MinimumQeSvn',
  'MinimumPceSvn',
  'MinimumTeeTcbSvn',
  'AllowedPIIDs',
  'MemoryIntegrity',
  'SMTDisabled',
  'StaticPlatform',
  'CPUs',
] as const;
const TCB_FIELDS = ['BootloaderVersion', 'TEEVersion', 'SNPVersion', 'MicrocodeVersion'] as const;
const POLICY_FIELDS = [
  'ABIMinor',
  'ABIMajor',
  'SMT',
  'MigrateMA',
  'Debug',
  'SingleSocket',
  'CXLAllowed',
  'MemAES256XTS',
  'RAPLDis',
  'CipherTextHidingDRAM',
  'PageSwapDisable',
] as const;
const PLATFORM_INFO_FIELDS = [
  'SMTEnabled',
  'TSMEEnabled',
  'ECCEnabled',
  'RAPLDisabled',
  'CiphertextHidingDRAMEnabled',
  'AliasCheckComplete',
  'TIOEnabled',
] as const;

/** Where a field of a newer release points, for the unknown-field message. */
const UNKNOWN_HINTS: Record<string, string> = {
  FMCVERSION: 'Contrast documents MinimumTCB.FMCVersion for Turin, but no supported release has the field',
};

class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }
}

const from = (shape: ReferenceShape) => REFERENCE_SHAPES.slice(REFERENCE_SHAPES.indexOf(shape));
const only = (...shapes: ReferenceShape[]) => [...shapes];

/** Reads one JSON object's fields; unknown and twice-bound keys are problems. */
function fieldsOf<const F extends readonly string[]>(
  v: JsonValue,
  names: F,
  path: string,
  p: Problems,
): Map<F[number], JsonValue> | undefined {
  if (v === null) return undefined; // Go: null leaves the struct at its zero value
  if (!(v instanceof JsonObject)) {
    p.add(path, `must be an object, got ${describeJson(v)}`);
    return undefined;
  }
  const bound = bindFields(v, names);
  for (const key of bound.unknown) {
    const hint = UNKNOWN_HINTS[key.toUpperCase()];
    p.add(
      `${path}.${key}`,
      `unknown field${hint ? ` (${hint})` : ''}: no Contrast release this project supports has it, so the project cannot check it as the Coordinator does; ${SHAPES_HELP}`,
    );
  }
  for (const d of bound.duplicates)
    p.add(
      `${path}.${d.field}`,
      `given ${d.keys.length} times (${d.keys.map((k) => JSON.stringify(k)).join(', ')}); Go would keep only the last one silently — keep exactly one`,
    );
  return bound.fields as Map<F[number], JsonValue>;
}

function str(v: JsonValue | undefined, path: string, p: Problems): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') {
    p.add(path, `must be a string, got ${describeJson(v)}`);
    return '';
  }
  return v;
}

/** Contrast's validateHexString: exactly 2·n hex characters (either case). */
function hexOf(v: JsonValue | undefined, bytes: number, path: string, p: Problems): string {
  const s = str(v, path, p);
  if (s.length !== bytes * 2) p.add(path, `invalid length: ${s.length} (expected ${bytes * 2} hex characters)`);
  else if (!/^[0-9a-fA-F]*$/.test(s)) p.add(path, 'is not hex');
  return s.toLowerCase();
}

function bool(v: JsonValue | undefined, path: string, p: Problems): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') {
    p.add(path, `must be true or false, got ${describeJson(v)}`);
    return false;
  }
  return v;
}

/** An unsigned integer field of `bits` (Go: strconv.ParseUint, so no fraction or exponent). */
function uint(v: JsonValue | undefined, bits: 8 | 16 | 64, path: string, p: Problems): bigint {
  if (v === undefined || v === null) return 0n;
  const n = v instanceof JsonNumber ? goUint(v, bits) : undefined;
  if (n === undefined)
    p.add(path, `must be a whole number from 0 to ${(1n << BigInt(bits)) - 1n}, got ${describeJson(v)}`);
  return n ?? 0n;
}

/** Contrast's SVN: a JSON number read as float64, 0..255, truncated (referencevalues.go UnmarshalJSON); null is missing. */
function svn(v: JsonValue | undefined, path: string, p: Problems): number | undefined {
  if (v === undefined || v === null) {
    p.add(
      path,
      'field cannot be empty (Contrast refuses a manifest without it; fill in the minimum TCB of your platform)',
    );
    return undefined;
  }
  const f = v instanceof JsonNumber ? goFloat(v) : NaN;
  if (!(f >= 0 && f <= 255)) {
    p.add(path, `must be a number from 0 to 255, got ${describeJson(v)}`);
    return undefined;
  }
  return Math.trunc(f);
}

function list(v: JsonValue | undefined, path: string, p: Problems): JsonValue[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    p.add(path, `must be a list, got ${describeJson(v)}`);
    return [];
  }
  return v;
}

function guestPolicy(v: JsonValue | undefined, path: string, p: Problems): SnpGuestPolicy {
  const f = fieldsOf(v ?? null, POLICY_FIELDS, path, p) ?? new Map<string, JsonValue>();
  const b = (k: (typeof POLICY_FIELDS)[number]) => bool(f.get(k), `${path}.${k}`, p);
  return {
    ABIMinor: Number(uint(f.get('ABIMinor'), 8, `${path}.ABIMinor`, p)),
    ABIMajor: Number(uint(f.get('ABIMajor'), 8, `${path}.ABIMajor`, p)),
    SMT: b('SMT'),
    MigrateMA: b('MigrateMA'),
    Debug: b('Debug'),
    SingleSocket: b('SingleSocket'),
    CXLAllowed: b('CXLAllowed'),
    MemAES256XTS: b('MemAES256XTS'),
    RAPLDis: b('RAPLDis'),
    CipherTextHidingDRAM: b('CipherTextHidingDRAM'),
    PageSwapDisable: b('PageSwapDisable'),
  };
}

function platformInfo(v: JsonValue | undefined, path: string, p: Problems): SnpPlatformInfo {
  const f = fieldsOf(v ?? null, PLATFORM_INFO_FIELDS, path, p) ?? new Map<string, JsonValue>();
  const b = (k: (typeof PLATFORM_INFO_FIELDS)[number]) => bool(f.get(k), `${path}.${k}`, p);
  return {
    SMTEnabled: b('SMTEnabled'),
    TSMEEnabled: b('TSMEEnabled'),
    ECCEnabled: b('ECCEnabled'),
    RAPLDisabled: b('RAPLDisabled'),
    CiphertextHidingDRAMEnabled: b('CiphertextHidingDRAMEnabled'),
    AliasCheckComplete: b('AliasCheckComplete'),
    TIOEnabled: b('TIOEnabled'),
  };
}

function platformMarker(v: JsonValue | undefined, path: string, p: Problems): void {
  const s = str(v, path, p);
  if (s === '') return;
  if (!KNOWN_PLATFORMS.some((k) => k.toLowerCase() === s.toLowerCase())) {
    p.add(
      path,
      `unknown platform ${JSON.stringify(s)}: Contrast skips entries of insecure platforms, and this project cannot tell whether ${JSON.stringify(s)} is one (known: ${KNOWN_PLATFORMS.join(', ')})`,
    );
  }
}

interface Parsed<T> {
  value: T;
  /** The shapes (releases) this entry can come from. */
  shapes: ReferenceShape[];
  /** The shapes' description for the mixing message. */
  looksLike: string;
}

function snpEntry(v: JsonValue, index: number, p: Problems): Parsed<SnpReference> | undefined {
  const path = `ReferenceValues.snp[${index}]`;
  const f = fieldsOf(v, SNP_FIELDS, path, p);
  if (!f) {
    if (v === null) p.add(path, 'is null: Contrast refuses an entry without reference values');
    return undefined;
  }
  const has = (k: (typeof SNP_FIELDS)[number]) => f.has(k);
  let shapes: ReferenceShape[];
  let looksLike: string;
  if (has('APEIP')) [shapes, looksLike] = [only('apeip'), 'the APEIP shape (2026-04 on)'];
  else if (has('CPUs')) [shapes, looksLike] = [from('cpus'), 'the CPUs shape'];
  else if (has('Platform') || has('MinimumMitigationVector') || has('AllowedChipIDs'))
    [shapes, looksLike] = [from('platform-marker'), 'the Platform shape (2025-11 on)'];
  else if (has('PlatformInfo'))
    [shapes, looksLike] = [
      only('platform-info', 'tdx-without-svns', 'rtmrs'),
      'the PlatformInfo shape (2025-04 to 2025-11)',
    ];
  else [shapes, looksLike] = [only('guest-policy'), 'the GuestPolicy shape without PlatformInfo (2024-08 to 2025-04)'];
  const atLeast = (s: ReferenceShape) => REFERENCE_SHAPES.indexOf(shapes[0]!) >= REFERENCE_SHAPES.indexOf(s);

  const product = str(f.get('ProductName'), `${path}.ProductName`, p);
  if (!(SNP_PRODUCTS as readonly string[]).includes(product)) {
    p.add(
      `${path}.ProductName`,
      `unknown product name ${JSON.stringify(product)}: Contrast accepts only ${SNP_PRODUCTS.join(' and ')} (exact spelling)`,
    );
  }
  const measurement = hexOf(f.get('TrustedMeasurement'), 48, `${path}.TrustedMeasurement`, p);
  const tcbPath = `${path}.MinimumTCB`;
  const tcb = fieldsOf(f.get('MinimumTCB') ?? null, TCB_FIELDS, tcbPath, p) ?? new Map<string, JsonValue>();
  const minimum = Object.fromEntries(
    TCB_FIELDS.map((k) => [k, svn(tcb.get(k), `${tcbPath}.${k}`, p) ?? 0]),
  ) as SnpReference['MinimumTCB'];
  const policy = guestPolicy(f.get('GuestPolicy'), `${path}.GuestPolicy`, p);
  const info = atLeast('platform-info') ? platformInfo(f.get('PlatformInfo'), `${path}.PlatformInfo`, p) : undefined;
  platformMarker(f.get('Platform'), `${path}.Platform`, p);
  const chipIds = list(f.get('AllowedChipIDs'), `${path}.AllowedChipIDs`, p).map((c, i) =>
    hexOf(c, 64, `${path}.AllowedChipIDs[${i}]`, p),
  );
  const mitigation = uint(f.get('MinimumMitigationVector'), 64, `${path}.MinimumMitigationVector`, p);
  uint(f.get('CPUs'), 64, `${path}.CPUs`, p); // informational in Contrast: type-checked only
  const apeip = str(f.get('APEIP'), `${path}.APEIP`, p);
  if (apeip !== '') {
    p.add(
      `${path}.APEIP`,
      'is set: Contrast then accepts any launch measurement extrapolated from TrustedMeasurement for 1 to 220 vCPUs, which this project does not implement; use a manifest with the exact measurement (APEIP "")',
    );
  }

  // Guest policy as Contrast's Validate allows it from the PlatformInfo shape on (the defaults).
  const gpPath = `${path}.GuestPolicy`;
  if (policy.Debug)
    p.add(
      `${gpPath}.Debug`,
      'is true: a debuggable guest exposes its memory, and so the seed, to the host; this project never recovers such a Coordinator',
    );
  if (atLeast('platform-info')) {
    const locked: [keyof SnpGuestPolicy, boolean][] = [
      ['ABIMajor', policy.ABIMajor !== 0],
      ['ABIMinor', policy.ABIMinor !== 0 && policy.ABIMinor !== 31],
      ['SMT', !policy.SMT],
      ['MigrateMA', policy.MigrateMA],
      ['SingleSocket', policy.SingleSocket],
      ['CXLAllowed', policy.CXLAllowed],
      ['MemAES256XTS', policy.MemAES256XTS],
      ['RAPLDis', policy.RAPLDis],
      ['CipherTextHidingDRAM', policy.CipherTextHidingDRAM],
    ];
    for (const [k, bad] of locked)
      if (bad)
        p.add(
          `${gpPath}.${k}`,
          `modifying this field is not permitted (Contrast refuses guest policies other than ABI 0.0 or 0.31 with SMT; releases that allow other policies are not supported)`,
        );
  } else {
    for (const k of ['CXLAllowed', 'MemAES256XTS', 'RAPLDis', 'CipherTextHidingDRAM', 'PageSwapDisable'] as const) {
      if (policy[k])
        p.add(
          `${gpPath}.${k}`,
          'is true in a manifest shaped like releases before 2025-04, whose go-sev-guest may not know this bit; the project cannot tell how that release judges it',
        );
    }
  }
  if (!atLeast('platform-marker') && atLeast('platform-info')) {
    if (policy.PageSwapDisable)
      p.add(
        `${gpPath}.PageSwapDisable`,
        'is true in a manifest shaped like releases before 2025-11, whose go-sev-guest may not know this bit; the project cannot tell how that release judges it',
      );
    if (info?.TIOEnabled)
      p.add(
        `${path}.PlatformInfo.TIOEnabled`,
        'is true in a manifest shaped like releases before 2025-11, whose go-sev-guest may not know this bit; the project cannot tell how that release judges it',
      );
  }
  return {
    shapes,
    looksLike,
    value: {
      index,
      ProductName: product as ContrastSnpProduct,
      TrustedMeasurement: measurement,
      MinimumTCB: minimum,
      GuestPolicy: policy,
      ...(info ? { PlatformInfo: info } : {}),
      AllowedChipIDs: chipIds,
      MinimumMitigationVector: mitigation,
    },
  };
}

function tdxEntry(v: JsonValue, index: number, p: Problems): Parsed<TdxReference> | undefined {
  const path = `ReferenceValues.tdx[${index}]`;
  const f = fieldsOf(v, TDX_FIELDS, path, p);
  if (!f) {
    if (v === null) p.add(path, 'is null: Contrast refuses an entry without reference values');
    return undefined;
  }
  const has = (k: (typeof TDX_FIELDS)[number]) => f.has(k);
  const svnKeys = (['MinimumQeSvn', 'MinimumPceSvn', 'MinimumTeeTcbSvn'] as const).filter(has);
  const newKeys = (
    [
      'Platform',
      'MinTCBEvaluationDataNumber',
      'AllowedPIIDs',
      'MemoryIntegrity',
      'SMTDisabled',
      'StaticPlatform',
      'CPUs',
    ] as const
  ).filter(has);
  let spelling: 'Rtrms' | 'Rtmrs' = has('Rtrms') || (!has('Rtmrs') && svnKeys.length > 0) ? 'Rtrms' : 'Rtmrs';
  let shapes: ReferenceShape[];
  let looksLike: string;
  if (has('Rtrms') && has('Rtmrs')) {
    p.add(
      path,
      'has both Rtrms and Rtmrs: Contrast renamed Rtrms to Rtmrs (2025-10); keep the one your release writes',
    );
    spelling = 'Rtmrs';
  }
  if (spelling === 'Rtrms') {
    if (newKeys.length)
      p.add(
        path,
        `mixes Rtrms (releases before 2025-10) with ${newKeys.join(', ')} (releases from 2025-11); no Contrast release writes both`,
      );
    if (svnKeys.length)
      [shapes, looksLike] = [
        only('guest-policy', 'platform-info'),
        'the Rtrms shape with SVN minimums (2024-08 to 2025-07)',
      ];
    else [shapes, looksLike] = [only('tdx-without-svns'), 'the Rtrms shape without SVN minimums (2025-07 to 2025-10)'];
  } else {
    if (svnKeys.length)
      p.add(
        path,
        `mixes Rtmrs (releases from 2025-10) with ${svnKeys.join(', ')} (removed 2025-07); no Contrast release writes both`,
      );
    if (newKeys.length || !has('TdAttributes')) {
      if (has('TdAttributes'))
        p.add(
          `${path}.TdAttributes`,
          `is set together with ${newKeys.join(', ')}: releases with those fields ignore TdAttributes and require SEPT_VE_DISABLE only (${CONTRAST_TD_ATTRIBUTES}); remove it`,
        );
      [shapes, looksLike] = has('CPUs')
        ? [from('cpus'), 'the CPUs shape']
        : [from('platform-marker'), 'the Platform shape (2025-11 on)'];
    } else [shapes, looksLike] = [only('rtmrs'), 'the Rtmrs shape with TdAttributes (2025-10 to 2025-11)'];
  }
  const newer = REFERENCE_SHAPES.indexOf(shapes[0]!) >= REFERENCE_SHAPES.indexOf('platform-marker');

  const mrTd = hexOf(f.get('MrTd'), 48, `${path}.MrTd`, p);
  const mrSeam = hexOf(f.get('MrSeam'), 48, `${path}.MrSeam`, p);
  const xfam = hexOf(f.get('Xfam'), 8, `${path}.Xfam`, p);
  const rtmrsIn = list(f.get(spelling) ?? null, `${path}.${spelling}`, p);
  if (rtmrsIn.length > 4)
    p.add(
      `${path}.${spelling}`,
      `has ${rtmrsIn.length} entries: Contrast reads RTMR0..3 and silently drops the rest; keep exactly 4`,
    );
  const rtmrs = [0, 1, 2, 3].map((i) =>
    hexOf(rtmrsIn[i] ?? null, 48, `${path}.${spelling}[${i}] (RTMR${i})`, p),
  ) as TdxReference['Rtmrs'];
  const tdAttributes = newer ? CONTRAST_TD_ATTRIBUTES : hexOf(f.get('TdAttributes'), 8, `${path}.TdAttributes`, p);
  if (/^[0-9a-f]{16}$/.test(tdAttributes) && (parseInt(tdAttributes.slice(0, 2), 16) & 1) === 1) {
    p.add(
      `${path}.TdAttributes`,
      'sets DEBUG (bit 0): a debuggable TD exposes its memory, and so the seed, to the host; this project never recovers such a Coordinator',
    );
  }
  const out: TdxReference = {
    index,
    MrTd: mrTd,
    MrSeam: mrSeam,
    Rtmrs: rtmrs,
    Xfam: xfam,
    TdAttributes: tdAttributes,
    xfamIgnoresCet: newer,
    MinTCBEvaluationDataNumber: 0,
    AllowedPIIDs: [],
    MemoryIntegrity: false,
    SMTDisabled: false,
    StaticPlatform: false,
  };
  if (shapes.includes('guest-policy')) {
    for (const k of ['MinimumQeSvn', 'MinimumPceSvn'] as const) {
      const raw = f.get(k);
      if (raw === undefined || raw === null)
        p.add(`${path}.${k}`, 'field cannot be empty (Contrast refuses a manifest without it)');
      else out[k] = Number(uint(raw, 16, `${path}.${k}`, p));
    }
    out.MinimumTeeTcbSvn = hexOf(f.get('MinimumTeeTcbSvn'), 16, `${path}.MinimumTeeTcbSvn`, p);
  }
  platformMarker(f.get('Platform'), `${path}.Platform`, p);
  const evalNumber = f.get('MinTCBEvaluationDataNumber');
  if (evalNumber !== undefined && evalNumber !== null) {
    const n = evalNumber instanceof JsonNumber ? goInt(evalNumber) : undefined;
    if (n === undefined)
      p.add(`${path}.MinTCBEvaluationDataNumber`, `must be a whole number, got ${describeJson(evalNumber)}`);
    else out.MinTCBEvaluationDataNumber = n > 0n ? Number(n) : 0; // Contrast applies it only when > 0
  }
  out.AllowedPIIDs = list(f.get('AllowedPIIDs'), `${path}.AllowedPIIDs`, p).map((x, i) =>
    hexOf(
      x,
      16,
      `${path}.AllowedPIIDs[${i}] (a PIID is 16 bytes; Contrast compares it exactly, so another length never matches)`,
      p,
    ),
  );
  out.MemoryIntegrity = bool(f.get('MemoryIntegrity'), `${path}.MemoryIntegrity`, p);
  out.SMTDisabled = bool(f.get('SMTDisabled'), `${path}.SMTDisabled`, p);
  out.StaticPlatform = bool(f.get('StaticPlatform'), `${path}.StaticPlatform`, p);
  uint(f.get('CPUs'), 64, `${path}.CPUs`, p);
  return { value: out, shapes, looksLike };
}

/**
 * `ReferenceValues` as the release that wrote them reads them. Throws InputError (outcome
 * `bundle-invalid`, never retried) listing every problem with its path and what to do.
 */
export function parseReferenceValues(v: JsonValue | undefined, source = 'manifest.json'): ReferenceValues {
  const p = new Problems();
  const top = fieldsOrLegacy(v ?? null, p);
  const snp = list(top?.get('snp'), 'ReferenceValues.snp', p).map((e, i) => snpEntry(e, i, p));
  const tdx = list(top?.get('tdx'), 'ReferenceValues.tdx', p).map((e, i) => tdxEntry(e, i, p));
  if (v === undefined || v === null)
    p.add(
      'ReferenceValues',
      'missing: Contrast refuses a manifest without reference values; run `contrast generate` for your platform',
    );
  else if (top && snp.length + tdx.length === 0)
    p.add(
      'ReferenceValues',
      'reference values in manifest cannot be empty (Contrast refuses such a manifest); run `contrast generate` for your platform',
    );
  const entries: { e: Parsed<SnpReference> | Parsed<TdxReference>; at: string }[] = [];
  snp.forEach((e, i) => e && entries.push({ e, at: `snp[${i}]` }));
  tdx.forEach((e, i) => e && entries.push({ e, at: `tdx[${i}]` }));
  let shapes: ReferenceShape[] = [...REFERENCE_SHAPES];
  for (const { e } of entries) shapes = shapes.filter((s) => e.shapes.includes(s));
  if (entries.length && shapes.length === 0) {
    p.add(
      'ReferenceValues',
      `the entries mix fields of different Contrast releases (${entries.map(({ e, at }) => `${at} looks like ${e.looksLike}`).join('; ')}): no Contrast release writes them together, so the project cannot tell which release's rules apply`,
    );
  }
  if (p.list.length) {
    throw new InputError(
      `${source}: the ReferenceValues cannot be judged exactly as the Coordinator judges them, so nothing was accepted:\n  - ${p.list.join('\n  - ')}\n` +
        `Fix the manifest (then \`contrast set\` it) or upgrade contrast-autorecover; ${SHAPES_HELP}.`,
      'bundle-invalid',
    );
  }
  return {
    shape: shapes[0]!,
    snp: snp.map((e) => e!.value),
    tdx: tdx.map((e) => e!.value),
  };
}

/** The `snp`/`tdx` object, naming the v0.x shapes (one SNP object; aks/bareMetalTDX) this project does not support. */
function fieldsOrLegacy(v: JsonValue, p: Problems): Map<'snp' | 'tdx', JsonValue> | undefined {
  const legacy = 'Contrast releases before 2024-08 (v0.x, shapes without snp/tdx lists) are not supported';
  if (v instanceof JsonObject) {
    const b = bindFields(v, ['snp', 'tdx']);
    const snp = b.fields.get('snp');
    if (b.unknown.some((k) => /^(aks|baremetaltdx|trustedmeasurement)$/i.test(k)) || snp instanceof JsonObject) {
      p.add(
        'ReferenceValues',
        `has the v0.x shape (${[...b.unknown, ...(snp instanceof JsonObject ? [b.spelled.get('snp')!] : [])].join(', ')}): ${legacy}`,
      );
      return undefined;
    }
  }
  return fieldsOf(v, ['snp', 'tdx'] as const, 'ReferenceValues', p);
}
