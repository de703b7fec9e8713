/** Creates a lock table on the shared moto server, shaped like the CDK one (pk S, TTL expiresAt). */
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { awsClientConfig, uniqueName } from '../support/aws.ts';

export async function createLockTable(
  client = new DynamoDBClient(awsClientConfig()),
): Promise<{ client: DynamoDBClient; tableName: string }> {
  const tableName = uniqueName('locks');
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    }),
  );
  return { client, tableName };
}
