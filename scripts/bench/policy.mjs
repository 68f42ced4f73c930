// Policy evaluation speed: median and p99 per call for 10, 100 and 1,000 rules (target: median < 20 µs
// at 1,000 rules). Imports the built code: run `npx tsc -p .` first.
import { parsePolicy } from '../../dist/config/load.js';
import { evaluate } from '../../dist/policy/evaluate.js';

const SERVICES = ['s3', 'dynamodb', 'secretsmanager', 'ssm', 'kms', 'lambda', 'sqs', 'sns', 'sts', 'ec2', 'logs', 'cloudwatch', 'iam', 'ecr', 'athena', 'glue'];
const OPS = ['GetObject', 'PutObject', 'ListObjectsV2', 'DeleteObject', 'GetItem', 'PutItem', 'Query', 'Scan', 'GetSecretValue', 'Decrypt', 'Invoke', 'SendMessage', 'Publish', 'DescribeInstances'];
const TARGET_MEDIAN_US = 20;

// Deterministic pseudo-random (mulberry32) so runs compare.
let seed = 42;
const rand = (n) => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
};

function policyText(ruleCount) {
  const accounts = Array.from({ length: 20 }, (_, i) => `svc-${i}`);
  let text = 'version: 1\nservice_accounts:\n';
  for (const a of accounts) text += `  - {name: ${a}, issuer: local, roles: ["arn:aws:iam::123456789012:role/${a}"]}\n`;
  text += 'rules:\n';
  for (let i = 0; i < ruleCount; i++) {
    const service = SERVICES[rand(SERVICES.length)];
    const shape = rand(10);
    // Mostly exact operations, some operation globs, a few service globs and `*`: like real policies.
    const action = shape < 6 ? `${service}:${OPS[rand(OPS.length)]}` : shape < 8 ? `${service}:Get*` : shape < 9 ? `${service}:*` : i % 50 === 0 ? '*' : `*:Describe*`;
    const effect = ['allow', 'allow', 'allow', 'deny', 'approve'][rand(5)];
    const principal = shape % 3 === 0 ? '"*"' : shape % 3 === 1 ? accounts[rand(accounts.length)] : '"svc-1*"';
    const resource = `"arn:aws:${service}:*:123456789012:thing-${rand(200)}/*"`;
    text += `  - {id: r${i}, effect: ${effect}, principals: [${principal}], actions: ["${action}"], resources: [${resource}, "arn:aws:${service}:::exact-${i}"]}\n`;
  }
  return text;
}

function calls(n) {
  return Array.from({ length: n }, () => {
    const service = SERVICES[rand(SERVICES.length)];
    return {
      principal: `svc-${rand(20)}`,
      action: `${service}:${OPS[rand(OPS.length)]}`,
      resource: rand(10) === 0 ? '*' : `arn:aws:${service}:eu-west-1:123456789012:thing-${rand(200)}/item-${rand(1000)}`,
    };
  });
}

function measure(compiled, inputs, { cold = false } = {}) {
  // Warm up, then time batches of 100 calls so timer resolution does not dominate.
  for (let i = 0; i < 20_000; i++) evaluate(compiled, inputs[i % inputs.length]);
  const perCallUs = [];
  let sink = 0;
  for (let batch = 0; batch < 2_000; batch++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < 100; i++) {
      // cold: every call works out which rules its action reaches, as for the first call of each action.
      if (cold) compiled.actionCache.clear();
      sink += evaluate(compiled, inputs[(batch * 100 + i) % inputs.length]).matched.length;
    }
    perCallUs.push(Number(process.hrtime.bigint() - start) / 100 / 1000);
  }
  perCallUs.sort((a, b) => a - b);
  return { median: perCallUs[Math.floor(perCallUs.length / 2)], p99: perCallUs[Math.floor(perCallUs.length * 0.99)], sink };
}

const inputs = calls(5_000);
const results = [];
for (const ruleCount of [10, 100, 1000]) {
  const result = parsePolicy(policyText(ruleCount), `bench-${ruleCount}.yaml`);
  if (!result.ok) throw new Error(result.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`).join('\n'));
  const loadStart = process.hrtime.bigint();
  parsePolicy(policyText(ruleCount), 'again.yaml');
  const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;
  const { median, p99 } = measure(result.policy.compiled, inputs);
  const cold = measure(result.policy.compiled, inputs, { cold: true });
  results.push({ ruleCount, median, p99, coldMedian: cold.median, coldP99: cold.p99, loadMs });
}

console.log('policy evaluation (per call, batches of 100, 200k calls per size)');
console.log('rules   median µs   p99 µs   cold median µs   cold p99 µs   load+compile ms');
for (const r of results) {
  console.log(
    `${String(r.ruleCount).padStart(5)}   ${r.median.toFixed(2).padStart(9)}   ${r.p99.toFixed(2).padStart(6)}   ${r.coldMedian.toFixed(2).padStart(14)}   ${r.coldP99.toFixed(2).padStart(11)}   ${r.loadMs.toFixed(1).padStart(15)}`,
  );
}
console.log('(cold = the action-to-rules memo cleared before every call: the cost of the first call of each action)');
const big = results.at(-1);
console.log(`1000 vs 10 rules: median ×${(big.median / results[0].median).toFixed(1)}`);
console.log(`target: median < ${TARGET_MEDIAN_US} µs at 1000 rules → ${big.median < TARGET_MEDIAN_US ? 'met' : 'NOT met'} (${(big.median / TARGET_MEDIAN_US * 100).toFixed(0)}% of budget; cold ${(big.coldMedian / TARGET_MEDIAN_US * 100).toFixed(0)}%)`);
