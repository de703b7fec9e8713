/**
 * What the function answers an operator's direct `pause`, `resume` and `status` calls: the
 * shapes the CLI (cli/pause.ts, cli/via-function.ts) and the function (lambda/function/pause-switch.ts)
 * must agree on, so they live here, where both may import them.
 */

/** The direct actions that flip the switch instead of reconciling. */
export const PAUSE_SWITCH_ACTIONS = ['pause', 'resume'] as const;
export type PauseSwitchAction = (typeof PAUSE_SWITCH_ACTIONS)[number];

export function isPauseSwitchAction(action: string): action is PauseSwitchAction {
  return (PAUSE_SWITCH_ACTIONS as readonly string[]).includes(action);
}

/** One switch as status shows it. */
export interface PauseInfo {
  /** `deployment` (pause#<name>) or `all` (pause#*). */
  scope: 'deployment' | 'all';
  /** Who asked: the caller the CLI declared (CloudTrail's Invoke event names the authenticated principal). */
  by?: string;
  since?: string;
  reason?: string;
  /** The Lambda request id of the invocation that set it (its Invoke event and audit record). */
  requestId?: string;
}

export interface CollateralExpiryInfo {
  /** ISO time after which the earliest cached document is refused; absent when none expires. */
  expiresAt?: string;
  limitedBy?: string;
  file?: string;
  /** Documents whose dates could not be read. */
  unreadable?: string[];
  /** Nothing is cached in the bundle. */
  none?: boolean;
}

export interface OperatorState {
  deployment: string;
  paused: PauseInfo[];
  collateral?: CollateralExpiryInfo;
}

export interface PauseSwitchResult {
  action: PauseSwitchAction;
  deployment: string;
  /** The switch as it was before and is now (pause: now set; resume: now cleared). */
  before?: PauseInfo;
  after?: PauseInfo;
}
