import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Where uploaded diagnostic log bundles are kept in the bucket (expired by the lifecycle rule). */
export const LOG_BUNDLE_PREFIX = 'log-bundles/';

/**
 * The artifact bucket: release payloads and manifests, and diagnostic log bundles. Private
 * (every public access blocked, bucket-owner objects only), encrypted, TLS only; log bundles
 * expire, failed multipart uploads are cleaned up; releases are kept.
 */
export class TwinrootStorage extends Construct {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: { logBundleDays: number }) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Artifacts', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: false,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'expire-log-bundles', prefix: LOG_BUNDLE_PREFIX, expiration: Duration.days(props.logBundleDays) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(2) },
      ],
    });
  }
}
