import * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';

/** A role trust policy: `service` (e.g. `dlm.amazonaws.com`) may assume the role, under `condition` if given. */
export function assumableBy(service: string, condition?: Record<string, unknown>): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: service },
        Action: 'sts:AssumeRole',
        ...(condition ? { Condition: condition } : {}),
      },
    ],
  });
}

/**
 * An execution role for one of our Lambda functions: assumable by Lambda, with the basic execution
 * policy (its own logs) attached. Creates `<prefix>-role` and `<prefix>-lambda-basic`; callers add
 * their function's own permissions as a RolePolicy.
 */
export function lambdaExecutionRole(
  prefix: string,
  tags: Record<string, string>,
  opts: pulumi.CustomResourceOptions,
): aws.iam.Role {
  const role = new aws.iam.Role(
    `${prefix}-role`,
    {
      assumeRolePolicy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      }),
      tags,
    },
    opts,
  );
  new aws.iam.RolePolicyAttachment(
    `${prefix}-lambda-basic`,
    { role: role.name, policyArn: 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole' },
    opts,
  );
  return role;
}
