// The objects that depend on the policy, built once per load: the membership list, the token verifier, the
// masker, and the upstream credentials — kept across loads while region and endpoint stay the same, so a reload does
// not throw away cached AssumeRole credentials.

import type { CredentialProvider, HttpSender } from '../aws/upstream.js';
import { UpstreamCredentials } from '../aws/upstream.js';
import type { LoadedPolicy } from '../config/load.js';
import { TokenVerifier } from '../identity/jwt.js';
import type { GatewayKeys } from '../identity/keys.js';
import type { Clock } from '../lib/clock.js';
import { compileMasker } from '../masking/masker.js';
import { membersOf } from './authenticate.js';
import type { PolicyRuntime } from './context.js';

export interface RuntimeDeps {
  /** `--upstream-endpoint`, which wins over the policy's `upstream.endpoint`. */
  upstreamEndpoint?: string;
  baseCredentials?: CredentialProvider;
  now?: Clock;
  keys: GatewayKeys;
  upstreamClient: HttpSender;
}

export function buildPolicyRuntime(policy: LoadedPolicy, previous: PolicyRuntime | undefined, deps: RuntimeDeps): PolicyRuntime {
  const region = policy.config.upstream.region;
  const stsOrigin = deps.upstreamEndpoint ?? policy.config.upstream.endpoint ?? `https://sts.${region}.amazonaws.com`;
  const upstreamCredentials =
    previous && previous.upstreamCredentials.stsOrigin === stsOrigin && previous.upstreamCredentials.region === region
      ? previous.upstreamCredentials
      : new UpstreamCredentials({ stsOrigin, region, baseProvider: deps.baseCredentials, now: deps.now, client: deps.upstreamClient });
  return {
    policy,
    members: membersOf(policy),
    verifier: new TokenVerifier({ issuers: policy.config.issuers, serviceAccounts: policy.config.serviceAccounts, localKeys: deps.keys, now: deps.now }),
    masker: compileMasker(policy.config.masking),
    upstreamCredentials,
  };
}
