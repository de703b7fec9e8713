/**
 * SubjectAccessReview for the Kubernetes API stand-in: `POST
 * /apis/authorization.k8s.io/v1/subjectaccessreviews` asks "may this user or these groups do
 * this?" and answers in `status`, as the API server does (kubernetes/kubernetes
 * pkg/registry/authorization/subjectaccessreview/rest.go: validate, authorize, return the
 * review with its status; pkg/apis/authorization/validation/validation.go for the two spec
 * rules). The caller needs `create subjectaccessreviews.authorization.k8s.io` itself, which
 * the stand-in's own RBAC (the caller's grants) decides.
 *
 * Subjects are granted by group or user name, each with an RbacAuthorizer (e.g. the one
 * built from infra/k8s/rbac.yaml); a review is allowed when any grant of the user or of one
 * of the groups allows it. RBAC never denies, so `denied` is never set.
 */
import type { RbacAuthorizer } from './rbac.ts';

export const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

export interface SubjectAccessReviewSpec {
  resourceAttributes?: ResourceAttributes;
  nonResourceAttributes?: { path?: string; verb?: string };
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

/** Who may do what, for reviews: subjects by group or user name. */
export class SubjectAccessReviews {
  private readonly byGroup = new Map<string, RbacAuthorizer>();
  private readonly byUser = new Map<string, RbacAuthorizer>();
  /** Every review answered, in order (for assertions). */
  readonly reviews: SubjectAccessReviewSpec[] = [];

  grantGroup(group: string, authorizer: RbacAuthorizer): this {
    this.byGroup.set(group, authorizer);
    return this;
  }

  grantUser(user: string, authorizer: RbacAuthorizer): this {
    this.byUser.set(user, authorizer);
    return this;
  }

  clear(): void {
    this.byGroup.clear();
    this.byUser.clear();
  }

  allows(spec: SubjectAccessReviewSpec): boolean {
    const a = spec.resourceAttributes;
    if (!a) return false;
    const request = {
      verb: a.verb ?? '',
      apiGroup: a.group ?? '',
      resource: a.resource ?? '',
      // "" is all namespaces (cluster scope), as in the API server's attributes.
      namespace: a.namespace ? a.namespace : undefined,
      ...(a.name ? { name: a.name } : {}),
    };
    const authorizers = [
      ...(spec.groups ?? []).map((g) => this.byGroup.get(g)),
      spec.user ? this.byUser.get(spec.user) : undefined,
    ];
    return authorizers.some((z) => z?.allows(request) ?? false);
  }
}

interface Reply {
  status: number;
  payload: unknown;
}

function invalid(message: string): Reply {
  return {
    status: 422,
    payload: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `SubjectAccessReview.authorization.k8s.io "" is invalid: ${message}`,
      reason: 'Invalid',
      code: 422,
    },
  };
}

/**
 * Serves a SubjectAccessReview request, or returns undefined for any other path (the hook
 * in server.ts then routes as before). `callerMayCreate` is the stand-in's RBAC decision for
 * the authenticated caller.
 */
export function serveSubjectAccessReview(
  reviews: SubjectAccessReviews,
  callerMayCreate: boolean,
  method: string,
  path: string,
  body: string,
): Reply | undefined {
  if (path !== SAR_PATH) return undefined;
  if (method !== 'POST') {
    return {
      status: 405,
      payload: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `the server does not allow this method on the requested resource`,
        reason: 'MethodNotAllowed',
        code: 405,
      },
    };
  }
  if (!callerMayCreate) {
    return {
      status: 403,
      payload: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'subjectaccessreviews.authorization.k8s.io is forbidden: User cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope',
        reason: 'Forbidden',
        details: { group: 'authorization.k8s.io', kind: 'subjectaccessreviews' },
        code: 403,
      },
    };
  }
  let review: { spec?: SubjectAccessReviewSpec };
  try {
    review = JSON.parse(body) as { spec?: SubjectAccessReviewSpec };
  } catch {
    return {
      status: 400,
      payload: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'the request body is not valid JSON',
        reason: 'BadRequest',
        code: 400,
      },
    };
  }
  const spec = review.spec ?? {};
  // The two rules of ValidateSubjectAccessReviewSpec.
  const errors: string[] = [];
  if (spec.resourceAttributes && spec.nonResourceAttributes)
    errors.push(
      'spec.nonResourceAttributes: Invalid value: "object": cannot be specified in combination with resourceAttributes',
    );
  if (!spec.resourceAttributes && !spec.nonResourceAttributes)
    errors.push(
      'spec: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified',
    );
  if (!spec.user && !(spec.groups?.length ?? 0))
    errors.push('spec.user: Invalid value: "": at least one of user or group must be specified');
  if (errors.length > 0) return invalid(errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]`);

  reviews.reviews.push(spec);
  const allowed = reviews.allows(spec);
  return {
    status: 201,
    payload: {
      kind: 'SubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec,
      status: { allowed },
    },
  };
}
