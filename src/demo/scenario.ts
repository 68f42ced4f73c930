// What the demo's simulated MCP server and nightly job do: the upstream's made-up data, and the calls
// they make each round, each labelled with what the gateway is expected to do with it.

import type { DemoCall } from './client.js';
import { jsonCall } from './client.js';
import { DEMO_ACCOUNT_ID, DEMO_REGION } from './policy.js';
import type { DemoUpstreamData } from './upstream.js';

export type Expectation = 'allowed' | 'denied' | 'approval' | 'masked';

export interface DemoStep {
  /** Service account making the call. */
  account: string;
  /** What a human watching should read, e.g. "list the reports bucket". */
  label: string;
  expect: Expectation;
  call: DemoCall;
}

function s(value: string): { S: string } {
  return { S: value };
}

export function seedDemoData(data: DemoUpstreamData, now: Date): void {
  const text = (body: string, contentType = 'text/plain; charset=utf-8') => ({ body: Buffer.from(body), contentType, lastModified: now });
  data.buckets.set(
    'acme-reports',
    new Map([
      ['reports/2024-05.csv', text('region,revenue,orders\neu-west,182340,1204\nus-east,240115,1688\n', 'text/csv')],
      ['reports/2024-06.csv', text('region,revenue,orders\neu-west,190002,1251\nus-east,251980,1730\n', 'text/csv')],
      // Someone exported customer records and left a key in a config file: the gateway masks both on the way out.
      [
        'exports/customers-2024-06.csv',
        text('customer,email,card\nCUST-00012345,jane.doe@example.com,4111 1111 1111 1111\nCUST-00067890,raj.patel@example.org,5500 0000 0000 0004\n', 'text/csv'),
      ],
      ['config/legacy-uploader.env', text('AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nBUCKET=acme-reports\n')],
    ]),
  );
  const items = new Map<string, Record<string, Record<string, unknown>>>();
  for (const [month, id, title, rows] of [
    ['2024-05', 'revenue', 'Revenue by region', '2'],
    ['2024-05', 'orders', 'Orders by region', '2'],
    ['2024-06', 'revenue', 'Revenue by region', '2'],
  ] as const) {
    items.set(JSON.stringify([s(month), s(id)]), { month: s(month), report_id: s(id), title: s(title), rows: { N: rows }, s3_key: s(`reports/${month}.csv`) });
  }
  data.tables.set('report-metadata', { hashKey: 'month', rangeKey: 'report_id', items, createdAt: now });
  const secret = (name: string, value: string) => ({ name, arn: `arn:aws:secretsmanager:${DEMO_REGION}:${DEMO_ACCOUNT_ID}:secret:${name}-Xy12Ab`, value, createdAt: now });
  data.secrets.set('staging/reports-db-password', secret('staging/reports-db-password', JSON.stringify({ username: 'reports', password: 'staging-Pa55w0rd!' })));
  data.secrets.set('prod/payments-api-key', secret('prod/payments-api-key', JSON.stringify({ api_key: 'pk_live_51H8sQ2LkdIwHu7ixPROD' })));
}

const MCP = 'reports-mcp';
const INDEXER = 'reports-indexer';

/**
 * One round of traffic. `round` varies the data written so each round's writes differ. The approval, a block and
 * the masked reads come early, so even a short run (`--duration 15` on a busy machine) shows every kind of event.
 */
export function demoSteps(round: number): DemoStep[] {
  return [
    { account: MCP, label: 'who am I (sts:GetCallerIdentity)', expect: 'allowed', call: { service: 'sts', method: 'POST', path: '/', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: 'Action=GetCallerIdentity&Version=2011-06-15' } },
    { account: MCP, label: 'list the reports bucket', expect: 'allowed', call: { service: 's3', method: 'GET', path: '/acme-reports?list-type=2&prefix=reports%2F' } },
    { account: MCP, label: 'read the production payments key', expect: 'approval', call: jsonCall('secretsmanager', 'GetSecretValue', { SecretId: 'prod/payments-api-key' }) },
    { account: MCP, label: 'delete an old report (destructive)', expect: 'denied', call: { service: 's3', method: 'DELETE', path: '/acme-reports/reports/2024-05.csv' } },
    { account: MCP, label: 'read the customer export (emails, card numbers, customer ids)', expect: 'masked', call: { service: 's3', method: 'GET', path: '/acme-reports/exports/customers-2024-06.csv' } },
    { account: MCP, label: 'read a config file holding an AWS key', expect: 'masked', call: { service: 's3', method: 'GET', path: '/acme-reports/config/legacy-uploader.env' } },
    { account: MCP, label: 'read the staging database password', expect: 'masked', call: jsonCall('secretsmanager', 'GetSecretValue', { SecretId: 'staging/reports-db-password' }) },
    { account: MCP, label: 'read the June report', expect: 'allowed', call: { service: 's3', method: 'GET', path: '/acme-reports/reports/2024-06.csv' } },
    {
      account: MCP,
      label: 'look up report metadata',
      expect: 'allowed',
      call: jsonCall('dynamodb', 'Query', { TableName: 'report-metadata', KeyConditionExpression: '#m = :m', ExpressionAttributeNames: { '#m': 'month' }, ExpressionAttributeValues: { ':m': s('2024-06') } }),
    },
    { account: MCP, label: 'read one metadata item', expect: 'allowed', call: jsonCall('dynamodb', 'GetItem', { TableName: 'report-metadata', Key: { month: s('2024-05'), report_id: s('orders') } }) },
    { account: MCP, label: 'drop the metadata table (destructive)', expect: 'denied', call: jsonCall('dynamodb', 'DeleteTable', { TableName: 'report-metadata' }) },
    {
      account: INDEXER,
      label: 'index a new report',
      expect: 'allowed',
      call: jsonCall('dynamodb', 'PutItem', { TableName: 'report-metadata', Item: { month: s('2024-07'), report_id: s(`draft-${round}`), title: s('Draft'), rows: { N: '0' } } }),
    },
    { account: INDEXER, label: 'upload a report (no rule allows it)', expect: 'denied', call: { service: 's3', method: 'PUT', path: `/acme-reports/reports/draft-${round}.csv`, headers: { 'content-type': 'text/csv' }, body: 'region,revenue\n' } },

  ];
}
