/**
 * What a deployment target is: its own config section, its defaults for the common keys, and a
 * renderer that turns the spec (and the workload it builds) into resources with one common result.
 */
import type * as pulumi from '@pulumi/pulumi';
import type { CommonDefaults, CommonSpec } from '../spec/common.ts';
import type { KeyDef } from '../spec/schema.ts';

/** A parsed spec: the common keys plus the target's own section. */
export interface DeploymentSpec<S = unknown> extends CommonSpec {
  /** The target's section (`clawstack:<target>`), parsed by the target. */
  section: S;
}

/** A one-glance description of the hardware and shape a stack runs on (a stack output). */
export type TierSummary = Record<string, string | number | boolean | string[]>;

/** What every target returns; `extras` become the stack output `details`. */
export interface TargetResult {
  /** Where clients reach the API. */
  url: pulumi.Output<string>;
  tierSummary: TierSummary;
  extras: Record<string, pulumi.Input<unknown>>;
  /** The generated bootstrap API key, when the target has one: the secret stack output `bootstrapApiKey`. */
  bootstrapApiKey?: pulumi.Output<string>;
}

export interface TargetDefinition<S = unknown> {
  /** `clawstack:target` value. */
  name: string;
  /** One line for docs and errors. */
  summary: string;
  /** The section's keys (`clawstack:<name>.<key>`), documented in docs/infra.md. */
  keys: Record<string, KeyDef>;
  defaults: CommonDefaults;
  /**
   * Parses the section and applies the target's own rules across it and the common keys. Pure;
   * throws StackConfigError. `secret`: the section holds a value set with `pulumi config set
   * --secret` (Pulumi marks the whole top-level key), so its values must stay secret.
   */
  parse(section: Record<string, unknown>, common: CommonSpec, secret: boolean): S;
  /** Declares the resources under one component named after the stack prefix. */
  deploy(spec: DeploymentSpec<S>): TargetResult;
}

/** Identity with type inference: `defineTarget({...})` checks the definition against its section type. */
export function defineTarget<S>(def: TargetDefinition<S>): TargetDefinition<S> {
  return def;
}
