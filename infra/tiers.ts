/**
 * The tier catalog: what each hardware tier means on every target, and how the app is tuned for it.
 *
 * This file is data. Switching a stack to another tier is one line of stack config
 * (`clawstack:tier`); everything below is looked up from it. Numbers are chosen so that
 * the app's worker threads × ORT intra-op threads fit the vCPUs the tier buys.
 */

export const TIER_NAMES = ['lightweight', 'general', 'gpu'] as const;
export type TierName = (typeof TIER_NAMES)[number];

export const CAPACITIES = ['on-demand', 'spot'] as const;
export type Capacity = (typeof CAPACITIES)[number];

/** How the app is tuned on a tier; mapped onto app/src/config.ts variables by infra. */
export interface AppTuning {
  /** INFERENCE_THREADS: worker_threads in the inference pool (each holds one ORT session per model). */
  inferenceThreads: number;
  /** ORT_INTRA_OP_THREADS: ONNX Runtime threads per session. */
  ortIntraOpThreads: number;
  /** MAX_BATCH_SIZE: largest dynamic batch. */
  maxBatchSize: number;
  /** WORKER_CONCURRENCY: queue jobs one worker process runs at once. */
  workerConcurrency: number;
  /** EXECUTION_PROVIDER. */
  executionProvider: 'cpu' | 'cuda';
  /** MODEL_PRECISION: which variant of each model to load. */
  modelPrecision: 'fp32' | 'int8';
}

/** The machine image a tier boots, looked up at deploy time from AWS's public SSM parameters. */
export interface AmiFamily {
  /** Short name shown in plans and docs. */
  name: string;
  /** Public SSM parameter holding the latest AMI id for this family. */
  ssmParameter: string;
  /** OS user-data and package names are written for this distribution. */
  os: 'al2023';
}

export interface AwsTier {
  /** Instance types per capacity; spot lists several for capacity diversity (the first is preferred). */
  instanceTypes: Record<Capacity, string[]>;
  /** Root volume (GiB, gp3, always encrypted). */
  rootVolumeGb: number;
  ami: AmiFamily;
  /**
   * Where TLS terminates. `alb`: an Application Load Balancer over two AZs (instances in private
   * subnets behind a NAT gateway). `instance`: Caddy on the instance behind an Elastic IP (no ALB,
   * no NAT: the cheap single-instance shape).
   */
  edge: 'alb' | 'instance';
  /** Managed data services sized for this tier (when `clawstack:dataServices` is `managed`). */
  dbInstanceClass: string;
  cacheNodeType: string;
}

/** What one app process (api or worker) gets: CPU in millicores, memory in MiB. */
export interface ProcessResources {
  /** Guaranteed CPU (Kubernetes request). */
  cpuMillis: number;
  /** CPU ceiling (Kubernetes limit, Docker --cpus). */
  cpuLimitMillis: number;
  /** Memory request and limit (the process is killed above it, so they are one number). */
  memoryMiB: number;
}

export interface KubernetesTier {
  /** Node selectors per capacity (capacity-type labels of Karpenter and EKS managed node groups). */
  nodeSelector: Record<Capacity, Record<string, string>>;
  tolerations: { key: string; operator: 'Exists' | 'Equal'; value?: string; effect: string }[];
}

export interface TierSpec {
  name: TierName;
  summary: string;
  vcpu: number;
  memoryGiB: number;
  /** GPU requirement, when any. */
  gpu?: { vendor: 'nvidia'; minMemoryGiB: number; count: number };
  /** Appended to the image tag (`:0.1.0` → `:0.1.0-cuda`). */
  imageTagSuffix: string;
  app: AppTuning;
  /**
   * Each app process's share of the machine, on every target: api and worker together (plus
   * co-located Redis/Postgres) fit the tier's vCPUs and memory.
   */
  process: ProcessResources;
  aws: AwsTier;
  kubernetes: KubernetesTier;
}

const AL2023: AmiFamily = {
  name: 'Amazon Linux 2023 (x86_64)',
  ssmParameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
  os: 'al2023',
};

const AL2023_NVIDIA: AmiFamily = {
  name: 'Deep Learning Base OSS NVIDIA Driver GPU AMI (Amazon Linux 2023)',
  ssmParameter:
    '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id',
  os: 'al2023',
};

const capacityLabels: Record<Capacity, Record<string, string>> = {
  'on-demand': { 'karpenter.sh/capacity-type': 'on-demand' },
  spot: { 'karpenter.sh/capacity-type': 'spot' },
};

export const TIERS: Record<TierName, TierSpec> = {
  lightweight: {
    name: 'lightweight',
    summary: '≈2 vCPU / 4 GiB, 50 GB gp3, one instance, TLS on the instance (Caddy + Elastic IP)',
    vcpu: 2,
    memoryGiB: 4,
    imageTagSuffix: '',
    app: {
      inferenceThreads: 1,
      ortIntraOpThreads: 2,
      maxBatchSize: 8,
      workerConcurrency: 4,
      executionProvider: 'cpu',
      modelPrecision: 'int8',
    },
    process: { cpuMillis: 500, cpuLimitMillis: 1000, memoryMiB: 1280 },
    aws: {
      instanceTypes: {
        'on-demand': ['t3.medium'],
        spot: ['t3.medium', 't3a.medium', 'c6i.large', 'c6a.large', 'c5.large'],
      },
      rootVolumeGb: 50,
      ami: AL2023,
      edge: 'instance',
      dbInstanceClass: 'db.t4g.micro',
      cacheNodeType: 'cache.t4g.micro',
    },
    kubernetes: { nodeSelector: capacityLabels, tolerations: [] },
  },
  general: {
    name: 'general',
    summary: '≈4 vCPU / 8 GiB, 100 GB gp3, Auto Scaling behind an ALB over two AZs',
    vcpu: 4,
    memoryGiB: 8,
    imageTagSuffix: '',
    app: {
      inferenceThreads: 2,
      ortIntraOpThreads: 2,
      maxBatchSize: 32,
      workerConcurrency: 8,
      executionProvider: 'cpu',
      modelPrecision: 'int8',
    },
    process: { cpuMillis: 1500, cpuLimitMillis: 2000, memoryMiB: 3072 },
    aws: {
      instanceTypes: {
        'on-demand': ['c6i.xlarge'],
        spot: ['c6i.xlarge', 'c6a.xlarge', 'c5.xlarge', 'c5a.xlarge', 'c7i.xlarge'],
      },
      rootVolumeGb: 100,
      ami: AL2023,
      edge: 'alb',
      dbInstanceClass: 'db.t4g.small',
      cacheNodeType: 'cache.t4g.small',
    },
    kubernetes: { nodeSelector: capacityLabels, tolerations: [] },
  },
  gpu: {
    name: 'gpu',
    summary: 'NVIDIA GPU with ≥ 16 GB (T4 / A10G / L4), 4 vCPU, 150 GB gp3, behind an ALB',
    vcpu: 4,
    memoryGiB: 16,
    gpu: { vendor: 'nvidia', minMemoryGiB: 16, count: 1 },
    imageTagSuffix: '-cuda',
    app: {
      inferenceThreads: 1,
      ortIntraOpThreads: 4,
      maxBatchSize: 64,
      workerConcurrency: 16,
      executionProvider: 'cuda',
      modelPrecision: 'fp32',
    },
    process: { cpuMillis: 1500, cpuLimitMillis: 2000, memoryMiB: 6144 },
    aws: {
      instanceTypes: {
        'on-demand': ['g4dn.xlarge'],
        spot: ['g4dn.xlarge', 'g5.xlarge', 'g6.xlarge', 'g4dn.2xlarge'],
      },
      rootVolumeGb: 150,
      ami: AL2023_NVIDIA,
      edge: 'alb',
      dbInstanceClass: 'db.t4g.medium',
      cacheNodeType: 'cache.t4g.small',
    },
    kubernetes: {
      nodeSelector: {
        'on-demand': { ...capacityLabels['on-demand'], 'nvidia.com/gpu.present': 'true' },
        spot: { ...capacityLabels.spot, 'nvidia.com/gpu.present': 'true' },
      },
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    },
  },
};

/** The tier catalog entry for a name. */
export function tierSpec(name: TierName): TierSpec {
  return TIERS[name];
}
