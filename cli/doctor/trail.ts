/**
 * A CloudTrail trail that keeps the recovery key's Decrypt entries beyond the 90 days of
 * event history: logging, multi-region or the organization's trail (IAM and STS events are
 * global; issue 11), with management events that include read events (a KMS Decrypt is a
 * read-only management event: awsdocs/aws-kms-developer-guide doc_source/ct-decrypt.md) and
 * do not exclude kms.amazonaws.com (EventSelector ExcludeManagementEventSources, or an
 * advanced selector on eventSource).
 */
import {
  DescribeTrailsCommand,
  GetEventSelectorsCommand,
  GetTrailStatusCommand,
  type AdvancedEventSelector,
  type EventSelector,
  type Trail,
} from '@aws-sdk/client-cloudtrail';
import { describeAwsError, type OperatorAws } from '../operations/aws.ts';
import { result, type CheckResult } from './checks.ts';

const KMS = 'kms.amazonaws.com';

/** Whether basic selectors log KMS read (Decrypt) management events. */
function basicCoversDecrypt(selectors: EventSelector[]): boolean {
  return selectors.some(
    (s) =>
      s.IncludeManagementEvents !== false &&
      (s.ReadWriteType ?? 'All') !== 'WriteOnly' &&
      !(s.ExcludeManagementEventSources ?? []).includes(KMS),
  );
}

/** Whether advanced selectors log KMS read management events. */
function advancedCoversDecrypt(selectors: AdvancedEventSelector[]): boolean {
  return selectors.some((s) => {
    const f = (name: string) => s.FieldSelectors?.find((x) => x.Field === name);
    const category = f('eventCategory');
    if (!category?.Equals?.includes('Management')) return false;
    const readOnly = f('readOnly');
    if (readOnly?.Equals && !readOnly.Equals.includes('true')) return false;
    const source = f('eventSource');
    if (source?.NotEquals?.includes(KMS)) return false;
    if (source?.Equals && !source.Equals.includes(KMS)) return false;
    return true;
  });
}

interface TrailReading {
  trail: Trail;
  logging: boolean;
  decrypt: boolean;
  wide: boolean;
}

export async function trailCheck(aws: OperatorAws, keyRegion: string): Promise<CheckResult> {
  const title = 'CloudTrail trail covering the key';
  const create = `aws cloudtrail create-trail --name contrast-autorecover-audit --s3-bucket-name <bucket> --is-multi-region-trail && aws cloudtrail start-logging --name contrast-autorecover-audit (or use your organization trail)`;
  let trails: Trail[];
  try {
    trails = (await aws.cloudtrail.send(new DescribeTrailsCommand({ includeShadowTrails: true }))).trailList ?? [];
  } catch (err) {
    return result(
      'trail',
      title,
      'fail',
      [`cannot list trails: ${describeAwsError(err)}`],
      'allow cloudtrail:DescribeTrails, GetTrailStatus and GetEventSelectors for your role',
    );
  }
  // Trails that log this region's events: multi-region or organization ones, or a trail of this region.
  const candidates = trails.filter((t) => t.IsMultiRegionTrail || t.IsOrganizationTrail || t.HomeRegion === keyRegion);
  if (candidates.length === 0)
    return result('trail', title, 'fail', [`no trail logs ${keyRegion} (${trails.length} trail(s) seen)`], create);
  const readings: TrailReading[] = [];
  try {
    for (const t of candidates) {
      const name = t.TrailARN ?? t.Name!;
      const status = await aws.cloudtrail.send(new GetTrailStatusCommand({ Name: name }));
      const sel = await aws.cloudtrail.send(new GetEventSelectorsCommand({ TrailName: name }));
      // A trail without selectors of its own logs all management events, read and write
      // (CloudTrail user guide, "Logging management events"); some answers then list none.
      const basic = sel.EventSelectors?.length
        ? sel.EventSelectors
        : [{ ReadWriteType: 'All' as const, IncludeManagementEvents: true }];
      const decrypt = sel.AdvancedEventSelectors?.length
        ? advancedCoversDecrypt(sel.AdvancedEventSelectors)
        : basicCoversDecrypt(basic);
      readings.push({
        trail: t,
        logging: status.IsLogging === true,
        decrypt,
        wide: t.IsMultiRegionTrail === true || t.IsOrganizationTrail === true,
      });
    }
  } catch (err) {
    return result(
      'trail',
      title,
      'fail',
      [`cannot read a trail's status or selectors: ${describeAwsError(err)}`],
      'allow cloudtrail:GetTrailStatus and cloudtrail:GetEventSelectors for your role',
    );
  }
  const describe = (r: TrailReading) =>
    `${r.trail.Name}${r.trail.IsOrganizationTrail ? ' (organization)' : r.trail.IsMultiRegionTrail ? ' (multi-region)' : ` (${r.trail.HomeRegion} only)`}: ${r.logging ? 'logging' : 'NOT logging'}, ${r.decrypt ? 'KMS read events included' : 'KMS Decrypt NOT logged'}`;
  const good = readings.find((r) => r.logging && r.decrypt && r.wide);
  if (good) return result('trail', title, 'pass', [describe(good)]);
  const regional = readings.find((r) => r.logging && r.decrypt);
  if (regional) {
    return result(
      'trail',
      title,
      'warn',
      readings.map(describe),
      `make it multi-region so IAM and STS events are kept too: aws cloudtrail update-trail --name ${regional.trail.Name} --is-multi-region-trail`,
    );
  }
  const fixes: string[] = [];
  const r0 = readings[0]!;
  if (!r0.logging) fixes.push(`aws cloudtrail start-logging --name ${r0.trail.Name}`);
  if (!r0.decrypt)
    fixes.push(
      `aws cloudtrail put-event-selectors --trail-name ${r0.trail.Name} --event-selectors '[{"ReadWriteType":"All","IncludeManagementEvents":true}]' (read events, KMS not excluded)`,
    );
  return result('trail', title, 'fail', readings.map(describe), fixes.join('; ') || create);
}
