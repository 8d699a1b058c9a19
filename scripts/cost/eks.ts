/**
 * Cost lines for what `clawstack:kubernetes.cluster: eks` creates: the EKS control plane (per hour),
 * each managed node group (its instance types at the group's capacity type, root volumes from its
 * launch template; at the minimum size and, for the bound, at the maximum), the Network Load Balancer
 * ingress-nginx's Service gets, and the gp3 volumes of the data StatefulSets. Pure.
 */
import type { RecordedResource } from '../plan/harness.ts';
// estimate.ts imports this module too; the helpers are only called after both have loaded.
import { hourly as line, label } from './estimate.ts';
import type { CostLine, PriceContext } from './estimate.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A node group at its minimum size; `perNode` prices the nodes the autoscaler may add up to max. */
function nodeGroup(r: RecordedResource, ctx: PriceContext): { lines: CostLine[]; extraAtMax: number } {
  const i = r.inputs as Json;
  const types = (i.instanceTypes ?? []) as string[];
  const spot = i.capacityType === 'SPOT';
  const known = types.map((t) => ctx.p.ec2Hour[t]).filter((x): x is number => x !== undefined);
  const mean = known.length ? known.reduce((a, b) => a + b, 0) / known.length : undefined;
  const price = mean === undefined ? undefined : spot ? mean * ctx.table.assumptions.spotFactor : mean;
  const min = Number(i.scalingConfig?.desiredSize ?? i.scalingConfig?.minSize ?? 1);
  const max = Number(i.scalingConfig?.maxSize ?? min);
  const item = spot
    ? `EKS nodes spot over ${types.join('/')} × ${min} (${Math.round(ctx.table.assumptions.spotFactor * 100)} % of on-demand)`
    : `EKS nodes ${types[0]} × ${min} (on-demand)`;
  const compute = line(item, r, price, min, ctx);
  const lt = ctx.resources.find(
    (x) => x.type === 'aws:ec2/launchTemplate:LaunchTemplate' && x.id === i.launchTemplate?.id,
  );
  const ebs = (lt?.inputs as Json | undefined)?.blockDeviceMappings?.[0]?.ebs as Json | undefined;
  const gb = Number(ebs?.volumeSize ?? 20);
  const disk: CostLine = {
    item: `EBS gp3 ${gb} GB root × ${min}`,
    resource: label(r),
    monthlyUsd: (ctx.p.ebsGbMonth.gp3 ?? 0) * gb * min,
  };
  const perNode = min ? (compute.monthlyUsd + disk.monthlyUsd) / min : 0;
  return { lines: [compute, disk], extraAtMax: perNode * Math.max(0, max - min) };
}

/** Lines for one resource of an EKS stack, or undefined when it is not one. */
export function priceEks(
  r: RecordedResource,
  ctx: PriceContext,
): { lines: CostLine[]; extraAtMax: number } | undefined {
  const i = r.inputs as Json;
  const only = (lines: CostLine[]) => ({ lines, extraAtMax: 0 });
  switch (r.type) {
    case 'aws:eks/cluster:Cluster':
      return only([line('EKS control plane (standard support)', r, ctx.p.eksClusterHour, 1, ctx)]);
    case 'aws:eks/nodeGroup:NodeGroup':
      return nodeGroup(r, ctx);
    case 'kubernetes:helm.sh/v3:Release':
      return i.chart === 'ingress-nginx'
        ? only([line('NLB for ingress-nginx (hours; NLCU traffic not included)', r, ctx.p.nlbHour, 1, ctx)])
        : only([]);
    case 'kubernetes:apps/v1:StatefulSet': {
      const claims = (i.spec?.volumeClaimTemplates ?? []) as Json[];
      return only(
        claims.map((c) => {
          const gb = Number(String(c.spec.resources.requests.storage).replace(/Gi$/, ''));
          return {
            item: `EBS gp3 ${gb} GB (PVC ${String(c.metadata.name)})`,
            resource: label(r),
            monthlyUsd: (ctx.p.ebsGbMonth.gp3 ?? 0) * gb,
          };
        }),
      );
    }
    default:
      return undefined;
  }
}
