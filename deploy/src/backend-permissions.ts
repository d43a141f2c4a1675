/**
 * The AWS actions the backend's code calls, by the service they belong to: the task role grants
 * these and nothing else. A test scans backend/src for the SDK commands it sends and fails when
 * this list and the code disagree, so a new call cannot ship without its permission (nor an old
 * permission outlive its call).
 */
export const BACKEND_ACTIONS = {
  dynamodb: ['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:ListTables', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:UpdateItem'],
  s3: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject'],
  iotControl: [
    'iot:AttachPolicy',
    'iot:AttachThingPrincipal',
    'iot:CreateCertificateFromCsr',
    'iot:CreateThing',
    'iot:DeleteCertificate',
    'iot:DeleteThing',
    'iot:DescribeEndpoint',
    'iot:DetachPolicy',
    'iot:DetachThingPrincipal',
    'iot:UpdateCertificate',
    'iot:UpdateThing',
  ],
  iotData: ['iot:Publish'],
} as const;

/**
 * Calls the stack makes unnecessary: the backend creates missing tables (and turns TTL on) when
 * it starts against an empty account, but here the stack owns the tables, so those calls are not
 * granted — a backend that finds a table missing fails loudly instead of creating an unmanaged one.
 */
export const MIGRATION_ONLY_COMMANDS = ['CreateTableCommand', 'UpdateTimeToLiveCommand'] as const;
