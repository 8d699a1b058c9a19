import { HEALTH_READY_PATH } from '../../../app/src/api/paths.ts';
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { ADMIN_PORT, APP_PORT } from './network.ts';
import { albLogicalName } from './spec.ts';

/** TLS 1.2 and 1.3 only, forward-secret ciphers. */
export const ALB_TLS_POLICY = 'ELBSecurityPolicy-TLS13-1-2-2021-06';
export const READINESS_PATH = HEALTH_READY_PATH;

export interface LoadBalancedEdgeArgs {
  /** Name prefix for every child resource. */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** VPC of the target group. */
  vpcId: pulumi.Input<string>;
  /** Public subnets in two AZs. */
  subnetIds: pulumi.Input<string>[];
  /** The edge security group (443/80 from allowedCidrs, admin port from adminCidrs). */
  securityGroupId: pulumi.Input<string>;
  /** Public name of the service; with {@link hostedZoneId}, a DNS-validated ACM certificate and an alias record are created. */
  domain?: string;
  /** Route 53 zone holding {@link domain}. */
  hostedZoneId?: string;
  /** An existing (imported or ACM-issued) certificate; takes precedence over creating one. */
  certificateArn?: string;
  /** Open an admin listener on {@link ADMIN_PORT} that serves /metrics only. */
  adminListener: boolean;
  /** Requests per 5 minutes per client IP before WAF blocks it; 0: no WAF. */
  wafRateLimit: number;
  /** Seconds the target group waits for in-flight requests when a target leaves. */
  deregistrationDelaySeconds: number;
  /** The load balancer refuses deletion (turn off before `pulumi destroy`). */
  deletionProtection: boolean;
  /** Access logs to this bucket and key prefix; `ready` is the bucket policy that lets the ALB write. */
  accessLogs?: { bucket: pulumi.Input<string>; prefix: string; ready: pulumi.Resource };
}

/** An internet-facing ALB over two AZs: HTTPS only (TLS 1.2+), HTTP → HTTPS 301, optional WAF. */
export class LoadBalancedEdge extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly dnsName: pulumi.Output<string>;
  readonly targetGroupArn: pulumi.Output<string>;
  readonly loadBalancerArnSuffix: pulumi.Output<string>;
  readonly targetGroupArnSuffix: pulumi.Output<string>;
  readonly certificateArn: pulumi.Output<string>;

  constructor(name: string, args: LoadBalancedEdgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:LoadBalancedEdge', name, {}, opts);
    const p = args.prefix;
    const parent = { parent: this };
    const tags = (n: string) => ({ ...args.tags, Name: `${p}-${n}` });

    let certificateArn: pulumi.Output<string>;
    if (args.certificateArn) {
      certificateArn = pulumi.output(args.certificateArn);
    } else if (args.domain && args.hostedZoneId) {
      const cert = new aws.acm.Certificate(
        `${p}-cert`,
        { domainName: args.domain, validationMethod: 'DNS', tags: tags('cert') },
        { parent: this },
      );
      const option = cert.domainValidationOptions.apply((o) => {
        const first = o[0];
        if (!first) throw new Error('ACM returned no DNS validation option');
        return first;
      });
      const record = new aws.route53.Record(
        `${p}-cert-validation`,
        {
          zoneId: args.hostedZoneId,
          name: option.resourceRecordName,
          type: option.resourceRecordType,
          records: [option.resourceRecordValue],
          ttl: 300,
          allowOverwrite: true,
        },
        parent,
      );
      certificateArn = new aws.acm.CertificateValidation(
        `${p}-cert-validated`,
        { certificateArn: cert.arn, validationRecordFqdns: [record.fqdn] },
        parent,
      ).certificateArn;
    } else {
      // config.ts rejects this combination; kept as a guard for direct use of the component.
      throw new Error('LoadBalancedEdge needs certificateArn, or domain + hostedZoneId');
    }
    this.certificateArn = certificateArn;

    const lb = new aws.lb.LoadBalancer(
      albLogicalName(p),
      {
        loadBalancerType: 'application',
        internal: false,
        securityGroups: [args.securityGroupId],
        subnets: args.subnetIds,
        dropInvalidHeaderFields: true,
        enableHttp2: true,
        // Long enough for a batched GPU inference; async jobs go through /v1/jobs instead.
        idleTimeout: 120,
        enableDeletionProtection: args.deletionProtection,
        accessLogs: args.accessLogs && {
          bucket: args.accessLogs.bucket,
          prefix: args.accessLogs.prefix,
          enabled: true,
        },
        tags: tags('alb'),
      },
      // The ALB checks that it may write its logs when they are turned on.
      { parent: this, dependsOn: args.accessLogs ? [args.accessLogs.ready] : [] },
    );
    const tg = new aws.lb.TargetGroup(
      `${p}-tg`,
      {
        vpcId: args.vpcId,
        port: APP_PORT,
        protocol: 'HTTP',
        targetType: 'instance',
        deregistrationDelay: args.deregistrationDelaySeconds,
        healthCheck: {
          path: READINESS_PATH,
          port: 'traffic-port',
          protocol: 'HTTP',
          matcher: '200',
          interval: 15,
          timeout: 5,
          healthyThreshold: 2,
          unhealthyThreshold: 3,
        },
        tags: tags('tg'),
      },
      parent,
    );
    this.targetGroupArn = tg.arn;
    this.loadBalancerArnSuffix = lb.arnSuffix;
    this.targetGroupArnSuffix = tg.arnSuffix;
    this.dnsName = lb.dnsName;

    const https = new aws.lb.Listener(
      `${p}-https`,
      {
        loadBalancerArn: lb.arn,
        port: 443,
        protocol: 'HTTPS',
        sslPolicy: ALB_TLS_POLICY,
        certificateArn,
        defaultActions: [{ type: 'forward', targetGroupArn: tg.arn }],
        tags: tags('https'),
      },
      parent,
    );
    // Metrics are never served on the public listener.
    new aws.lb.ListenerRule(
      `${p}-hide-metrics`,
      {
        listenerArn: https.arn,
        priority: 10,
        conditions: [{ pathPattern: { values: ['/metrics', '/metrics/*'] } }],
        actions: [
          {
            type: 'fixed-response',
            fixedResponse: { contentType: 'text/plain', statusCode: '404', messageBody: 'not found' },
          },
        ],
        tags: tags('hide-metrics'),
      },
      parent,
    );
    new aws.lb.Listener(
      `${p}-http`,
      {
        loadBalancerArn: lb.arn,
        port: 80,
        protocol: 'HTTP',
        defaultActions: [
          { type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } },
        ],
        tags: tags('http'),
      },
      parent,
    );
    if (args.adminListener) {
      const admin = new aws.lb.Listener(
        `${p}-admin`,
        {
          loadBalancerArn: lb.arn,
          port: ADMIN_PORT,
          protocol: 'HTTPS',
          sslPolicy: ALB_TLS_POLICY,
          certificateArn,
          defaultActions: [
            {
              type: 'fixed-response',
              fixedResponse: { contentType: 'text/plain', statusCode: '404', messageBody: 'not found' },
            },
          ],
          tags: tags('admin'),
        },
        parent,
      );
      new aws.lb.ListenerRule(
        `${p}-admin-metrics`,
        {
          listenerArn: admin.arn,
          priority: 10,
          conditions: [{ pathPattern: { values: ['/metrics'] } }],
          actions: [{ type: 'forward', targetGroupArn: tg.arn }],
          tags: tags('admin-metrics'),
        },
        parent,
      );
    }

    if (args.wafRateLimit > 0) {
      const acl = new aws.wafv2.WebAcl(
        `${p}-waf`,
        {
          scope: 'REGIONAL',
          defaultAction: { allow: {} },
          rules: [
            {
              name: 'rate-limit-per-ip',
              priority: 1,
              action: { block: {} },
              statement: {
                rateBasedStatement: {
                  limit: args.wafRateLimit,
                  aggregateKeyType: 'IP',
                  evaluationWindowSec: 300,
                },
              },
              visibilityConfig: {
                cloudwatchMetricsEnabled: true,
                metricName: `${p}-rate-limit`,
                sampledRequestsEnabled: true,
              },
            },
          ],
          visibilityConfig: {
            cloudwatchMetricsEnabled: true,
            metricName: `${p}-waf`,
            sampledRequestsEnabled: true,
          },
          tags: tags('waf'),
        },
        parent,
      );
      new aws.wafv2.WebAclAssociation(`${p}-waf-alb`, { resourceArn: lb.arn, webAclArn: acl.arn }, parent);
    }

    if (args.domain && args.hostedZoneId) {
      new aws.route53.Record(
        `${p}-alias`,
        {
          zoneId: args.hostedZoneId,
          name: args.domain,
          type: 'A',
          aliases: [{ name: lb.dnsName, zoneId: lb.zoneId, evaluateTargetHealth: true }],
        },
        parent,
      );
    }
    this.url = args.domain
      ? pulumi.output(`https://${args.domain}`)
      : pulumi.interpolate`https://${lb.dnsName}`;
    this.registerOutputs({ url: this.url });
  }
}

export interface InstanceEdgeArgs {
  /** Name prefix for every child resource. */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** Name Caddy obtains a certificate for; must resolve to the Elastic IP. */
  domain: string;
  /** When given, the A record is created here; otherwise point the name at the output IP yourself. */
  hostedZoneId?: string;
}

/**
 * Tier lightweight's edge: an Elastic IP the instance claims at boot, and the DNS name Caddy
 * serves. TLS terminates on the instance, so there is no ALB (and no NAT) to pay for.
 */
export class InstanceEdge extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly publicIp: pulumi.Output<string>;
  readonly allocationId: pulumi.Output<string>;
  readonly allocationArn: pulumi.Output<string>;

  constructor(name: string, args: InstanceEdgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:InstanceEdge', name, {}, opts);
    const eip = new aws.ec2.Eip(
      `${args.prefix}-eip`,
      { domain: 'vpc', tags: { ...args.tags, Name: `${args.prefix}-eip` } },
      { parent: this },
    );
    this.publicIp = eip.publicIp;
    this.allocationId = eip.allocationId;
    this.allocationArn = eip.arn;
    if (args.hostedZoneId) {
      new aws.route53.Record(
        `${args.prefix}-a`,
        { zoneId: args.hostedZoneId, name: args.domain, type: 'A', ttl: 300, records: [eip.publicIp] },
        { parent: this },
      );
    }
    this.url = pulumi.output(`https://${args.domain}`);
    this.registerOutputs({ url: this.url, publicIp: this.publicIp });
  }
}
