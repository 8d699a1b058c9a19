import * as aws from '@pulumi/aws';
import { APP_CONTAINER_PORT } from '../../../app/src/api/paths.ts';
import { ADMIN_PORT } from '../../edge/caddy.ts';
import * as pulumi from '@pulumi/pulumi';

/** The app's HTTP port inside the VPC (env PORT). */
export const APP_PORT = APP_CONTAINER_PORT;
export { ADMIN_PORT };

export interface NetworkArgs {
  /** Name prefix for every child resource. */
  prefix: string;
  /** Tags for every taggable child. */
  tags: Record<string, string>;
  /** VPC CIDR (/16–/24); split into four equal subnets: public and private in each of two AZs. */
  cidr: string;
  /** Client CIDRs admitted to 443 and 80 (80 only redirects to HTTPS). */
  allowedCidrs: string[];
  /** CIDRs admitted to the admin listener on {@link ADMIN_PORT}; empty: no admin access at all. */
  adminCidrs: string[];
  /**
   * NAT for the private subnets. `none`: instances live in public subnets (tier lightweight);
   * `single`: one NAT gateway; `per-az`: one per AZ so an AZ outage does not cut egress.
   */
  nat: 'none' | 'single' | 'per-az';
  /** The instances are the edge (Caddy on tier lightweight) rather than an ALB. */
  instanceIsEdge: boolean;
  /**
   * Extra tags on the subnets (e.g. the `kubernetes.io/role/elb` tags an EKS cluster's load
   * balancers are placed by); none by default.
   */
  subnetTags?: { public?: Record<string, string>; private?: Record<string, string> };
}

/** Splits a CIDR into `2^extraBits` equal subnets. */
export function splitCidr(cidr: string, extraBits: number): string[] {
  const [ip, bits] = cidr.split('/') as [string, string];
  const base = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const prefix = Number(bits) + extraBits;
  const size = 2 ** (32 - prefix);
  return Array.from({ length: 2 ** extraBits }, (_, i) => {
    const n = base + i * size;
    const octets = [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256);
    return `${octets.join('.')}/${prefix}`;
  });
}

/**
 * VPC over two AZs with public and private subnets, security groups that admit only the
 * configured sources, and network ACLs that mirror them. There is no SSH anywhere: operators
 * use SSM Session Manager, so port 22 is denied outright in the ACLs.
 */
export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  readonly availabilityZones: pulumi.Output<string>[];
  /** The ALB's security group, or the instance's edge group on tier lightweight. */
  readonly edgeSecurityGroupId: pulumi.Output<string>;
  /** Every app instance carries this group; data services admit only it. */
  readonly appSecurityGroupId: pulumi.Output<string>;
  readonly natGatewayCount: number;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('clawstack:aws:Network', name, {}, opts);
    const p = args.prefix;
    const parent = { parent: this };
    const tag = (n: string) => ({ ...args.tags, Name: n });

    const azNames = aws.getAvailabilityZonesOutput({ state: 'available' }, parent).names.apply((names) => {
      if (names.length < 2)
        throw new Error(`the region has ${names.length} available AZ(s); clawstack needs two`);
      return names.slice(0, 2);
    });
    this.availabilityZones = [0, 1].map((i) => azNames.apply((n) => n[i] as string));

    const vpc = new aws.ec2.Vpc(
      `${p}-vpc`,
      { cidrBlock: args.cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tag(`${p}-vpc`) },
      parent,
    );
    this.vpcId = vpc.id;
    const igw = new aws.ec2.InternetGateway(`${p}-igw`, { vpcId: vpc.id, tags: tag(`${p}-igw`) }, parent);

    const [pub0, pub1, priv0, priv1] = splitCidr(args.cidr, 2) as [string, string, string, string];
    const publicSubnets = [pub0, pub1].map(
      (cidr, i) =>
        new aws.ec2.Subnet(
          `${p}-public-${i}`,
          {
            vpcId: vpc.id,
            cidrBlock: cidr,
            availabilityZone: this.availabilityZones[i],
            // Only the lightweight instance needs a public address (it also gets the Elastic IP).
            mapPublicIpOnLaunch: args.instanceIsEdge,
            tags: { ...tag(`${p}-public-${i}`), subnet: 'public', ...args.subnetTags?.public },
          },
          parent,
        ),
    );
    const privateSubnets = [priv0, priv1].map(
      (cidr, i) =>
        new aws.ec2.Subnet(
          `${p}-private-${i}`,
          {
            vpcId: vpc.id,
            cidrBlock: cidr,
            availabilityZone: this.availabilityZones[i],
            mapPublicIpOnLaunch: false,
            tags: { ...tag(`${p}-private-${i}`), subnet: 'private', ...args.subnetTags?.private },
          },
          parent,
        ),
    );
    this.publicSubnetIds = publicSubnets.map((s) => s.id);
    this.privateSubnetIds = privateSubnets.map((s) => s.id);

    const publicRt = new aws.ec2.RouteTable(
      `${p}-public-rt`,
      { vpcId: vpc.id, tags: tag(`${p}-public-rt`) },
      parent,
    );
    new aws.ec2.Route(
      `${p}-public-default`,
      { routeTableId: publicRt.id, destinationCidrBlock: '0.0.0.0/0', gatewayId: igw.id },
      parent,
    );
    publicSubnets.forEach(
      (s, i) =>
        new aws.ec2.RouteTableAssociation(
          `${p}-public-rta-${i}`,
          { subnetId: s.id, routeTableId: publicRt.id },
          parent,
        ),
    );

    this.natGatewayCount = args.nat === 'none' ? 0 : args.nat === 'single' ? 1 : 2;
    const nats = Array.from({ length: this.natGatewayCount }, (_, i) => {
      const eip = new aws.ec2.Eip(
        `${p}-nat-eip-${i}`,
        { domain: 'vpc', tags: tag(`${p}-nat-eip-${i}`) },
        parent,
      );
      return new aws.ec2.NatGateway(
        `${p}-nat-${i}`,
        {
          allocationId: eip.id,
          subnetId: publicSubnets[i]!.id,
          connectivityType: 'public',
          tags: tag(`${p}-nat-${i}`),
        },
        { parent: this, dependsOn: [igw] },
      );
    });
    const privateRts = privateSubnets.map((s, i) => {
      const rt = new aws.ec2.RouteTable(
        `${p}-private-rt-${i}`,
        { vpcId: vpc.id, tags: tag(`${p}-private-rt-${i}`) },
        parent,
      );
      const nat = nats[Math.min(i, nats.length - 1)];
      if (nat)
        new aws.ec2.Route(
          `${p}-private-default-${i}`,
          { routeTableId: rt.id, destinationCidrBlock: '0.0.0.0/0', natGatewayId: nat.id },
          parent,
        );
      new aws.ec2.RouteTableAssociation(
        `${p}-private-rta-${i}`,
        { subnetId: s.id, routeTableId: rt.id },
        parent,
      );
      return rt;
    });

    // Model downloads and log archives go to S3 through a free gateway endpoint, not the NAT.
    const region = aws.getRegionOutput({}, parent).region;
    new aws.ec2.VpcEndpoint(
      `${p}-s3-endpoint`,
      {
        vpcId: vpc.id,
        serviceName: pulumi.interpolate`com.amazonaws.${region}.s3`,
        vpcEndpointType: 'Gateway',
        routeTableIds: [publicRt.id, ...privateRts.map((rt) => rt.id)],
        tags: tag(`${p}-s3-endpoint`),
      },
      parent,
    );

    // Security groups: rules as separate resources so each one is visible in plans and tests.
    const edgeSg = new aws.ec2.SecurityGroup(
      `${p}-edge-sg`,
      {
        vpcId: vpc.id,
        description: args.instanceIsEdge
          ? 'clawstack instance edge (Caddy): 443/80 from allowedCidrs'
          : 'clawstack ALB: 443/80 from allowedCidrs',
        tags: tag(`${p}-edge-sg`),
      },
      parent,
    );
    const appSg = new aws.ec2.SecurityGroup(
      `${p}-app-sg`,
      { vpcId: vpc.id, description: 'clawstack app instances', tags: tag(`${p}-app-sg`) },
      parent,
    );
    this.edgeSecurityGroupId = edgeSg.id;
    this.appSecurityGroupId = appSg.id;

    const ingress = (
      n: string,
      sg: aws.ec2.SecurityGroup,
      rule: Omit<aws.vpc.SecurityGroupIngressRuleArgs, 'securityGroupId' | 'tags'>,
    ) =>
      new aws.vpc.SecurityGroupIngressRule(
        `${p}-${n}`,
        { securityGroupId: sg.id, ...rule, tags: tag(`${p}-${n}`) },
        parent,
      );
    args.allowedCidrs.forEach((cidr, i) => {
      ingress(`edge-https-${i}`, edgeSg, {
        ipProtocol: 'tcp',
        fromPort: 443,
        toPort: 443,
        cidrIpv4: cidr,
        description: `HTTPS from ${cidr}`,
      });
      ingress(`edge-http-${i}`, edgeSg, {
        ipProtocol: 'tcp',
        fromPort: 80,
        toPort: 80,
        cidrIpv4: cidr,
        description: `HTTP (redirect to HTTPS) from ${cidr}`,
      });
    });
    args.adminCidrs.forEach((cidr, i) => {
      ingress(`edge-admin-${i}`, edgeSg, {
        ipProtocol: 'tcp',
        fromPort: ADMIN_PORT,
        toPort: ADMIN_PORT,
        cidrIpv4: cidr,
        description: `admin (metrics) from ${cidr}`,
      });
    });
    if (args.instanceIsEdge) {
      // Caddy reaches the app over the host's loopback; the instance needs internet egress only.
      new aws.vpc.SecurityGroupEgressRule(
        `${p}-edge-egress`,
        {
          securityGroupId: edgeSg.id,
          ipProtocol: '-1',
          cidrIpv4: '0.0.0.0/0',
          description: 'instance egress (images, AWS APIs, ACME)',
          tags: tag(`${p}-edge-egress`),
        },
        parent,
      );
    } else {
      ingress('app-from-alb', appSg, {
        ipProtocol: 'tcp',
        fromPort: APP_PORT,
        toPort: APP_PORT,
        referencedSecurityGroupId: edgeSg.id,
        description: 'app port from the ALB only',
      });
      new aws.vpc.SecurityGroupEgressRule(
        `${p}-alb-to-app`,
        {
          securityGroupId: edgeSg.id,
          ipProtocol: 'tcp',
          fromPort: APP_PORT,
          toPort: APP_PORT,
          referencedSecurityGroupId: appSg.id,
          description: 'ALB to app instances',
          tags: tag(`${p}-alb-to-app`),
        },
        parent,
      );
    }
    new aws.vpc.SecurityGroupEgressRule(
      `${p}-app-egress`,
      {
        securityGroupId: appSg.id,
        ipProtocol: '-1',
        cidrIpv4: '0.0.0.0/0',
        description: 'image pulls, AWS APIs, managed data services',
        tags: tag(`${p}-app-egress`),
      },
      parent,
    );

    // Network ACLs mirror the groups (stateless, so return traffic needs the ephemeral range).
    // SSH is denied before anything else. The ephemeral range stays open from anywhere because the
    // NAT gateway picks its source ports from 1024-65535; the security groups keep 8080/9443 closed.
    type AclRule = aws.types.input.ec2.NetworkAclIngress;
    const deny = (ruleNo: number, port: number): AclRule => ({
      ruleNo,
      action: 'deny',
      protocol: 'tcp',
      cidrBlock: '0.0.0.0/0',
      fromPort: port,
      toPort: port,
    });
    const allow = (ruleNo: number, cidr: string, from: number, to: number, protocol = 'tcp'): AclRule => ({
      ruleNo,
      action: 'allow',
      protocol,
      cidrBlock: cidr,
      fromPort: from,
      toPort: to,
    });
    const fromVpc = allow(90, args.cidr, 0, 0, '-1');
    const ephemeral = allow(950, '0.0.0.0/0', 1024, 65535);
    const allOut: AclRule[] = [allow(100, '0.0.0.0/0', 0, 0, '-1')];
    const publicIn: AclRule[] = [
      deny(50, 22),
      fromVpc,
      ...args.allowedCidrs.flatMap((cidr, i) => [
        allow(100 + i * 2, cidr, 443, 443),
        allow(101 + i * 2, cidr, 80, 80),
      ]),
      ...args.adminCidrs.map((cidr, i) => allow(300 + i, cidr, ADMIN_PORT, ADMIN_PORT)),
      ephemeral,
    ];
    new aws.ec2.NetworkAcl(
      `${p}-public-acl`,
      {
        vpcId: vpc.id,
        subnetIds: this.publicSubnetIds,
        ingress: publicIn,
        egress: allOut,
        tags: tag(`${p}-public-acl`),
      },
      parent,
    );
    new aws.ec2.NetworkAcl(
      `${p}-private-acl`,
      {
        vpcId: vpc.id,
        subnetIds: this.privateSubnetIds,
        ingress: [deny(50, 22), fromVpc, ephemeral],
        egress: allOut,
        tags: tag(`${p}-private-acl`),
      },
      parent,
    );

    this.registerOutputs({ vpcId: this.vpcId });
  }
}
