/** The Open Inference Protocol v2 part of the OpenAPI document (request schemas from v2.ts). */
import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { errors, json } from './openapi-parts.ts';
import { inferRequestSchema, repositoryIndexSchema } from './v2.ts';
import { V2_DATATYPES } from './v2-tensors.ts';

const tensorMetadata = z.object({
  name: z.string(),
  datatype: z.enum(V2_DATATYPES),
  shape: z.array(z.number().int()),
});

const modelMetadataSchema = z
  .object({
    name: z.string(),
    versions: z.array(z.string()),
    platform: z.string(),
    inputs: z.array(tensorMetadata),
    outputs: z.array(tensorMetadata),
    parameters: z.record(z.string(), z.string()).optional(),
  })
  .meta({
    id: 'ModelMetadata',
    examples: [
      {
        name: 'text-spam',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [
          { name: 'text', datatype: 'BYTES', shape: [-1] },
          { name: 'ids', datatype: 'INT64', shape: [-1, -1] },
          { name: 'weights', datatype: 'FP32', shape: [-1, -1] },
        ],
        outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
        parameters: { task: 'text.classify', modality: 'text', precision: 'int8', text_input: 'text' },
      },
    ],
  });

const inferResponseSchema = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string().optional(),
    outputs: z.array(
      z.object({
        name: z.string(),
        datatype: z.enum(V2_DATATYPES),
        shape: z.array(z.number().int()),
        data: z.array(z.union([z.number(), z.boolean(), z.string()])).optional(),
        parameters: z.object({ binary_data_size: z.number().int() }).optional(),
      }),
    ),
  })
  .meta({
    id: 'InferResponse',
    examples: [
      {
        model_name: 'text-spam',
        model_version: '1',
        id: 'req-1',
        outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.0138, 0.9862] }],
      },
    ],
  });

const INFER_DESCRIPTION = `Tensors as JSON, or with the binary tensor data extension: send the JSON header, then the
tensors' little-endian bytes, with \`Inference-Header-Content-Length\` giving the header's length and
\`parameters.binary_data_size\` on each binary input. Outputs come back as bytes after the JSON header
when \`parameters.binary_data_output\` (all) or an output's \`parameters.binary_data\` asks for it.
Inputs of another datatype are converted when every value fits the model's type; a model whose task
reads text also takes a BYTES input \`text\`, featurized by the server. Other \`parameters\` are a 400.`;

function modelPaths(base: string, params: z.ZodObject): ZodOpenApiPathsObject {
  return {
    [base]: {
      get: {
        tags: ['v2'],
        summary: 'Model metadata',
        requestParams: { path: params },
        responses: { '200': json(modelMetadataSchema, 'metadata'), ...errors(404) },
      },
    },
    [`${base}/ready`]: {
      get: {
        tags: ['v2'],
        summary: 'Model readiness',
        requestParams: { path: params },
        responses: {
          '200': json(z.object({ name: z.string(), ready: z.boolean() }), 'ready'),
          ...errors(404),
        },
      },
    },
    [`${base}/infer`]: {
      post: {
        tags: ['v2'],
        summary: 'Inference',
        description: INFER_DESCRIPTION,
        requestParams: {
          path: params,
          header: z.object({ 'inference-header-content-length': z.string().regex(/^\d+$/).optional() }),
        },
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: inferRequestSchema },
            'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) },
          },
        },
        responses: {
          '200': {
            description: 'outputs (JSON, or JSON header + binary outputs)',
            content: {
              'application/json': { schema: inferResponseSchema },
              'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) },
            },
          },
          ...errors(400, 404, 413, 415),
        },
      },
    },
  };
}

export function v2Paths(): ZodOpenApiPathsObject {
  const model = z.object({ model: z.string() });
  return {
    '/v2': {
      get: {
        tags: ['v2'],
        summary: 'Server metadata',
        responses: {
          '200': json(
            z.object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) }),
            'metadata',
          ),
          ...errors(),
        },
      },
    },
    '/v2/models': {
      get: {
        tags: ['v2'],
        summary: 'Served models and their state',
        responses: {
          '200': json(
            z.object({
              models: z.array(z.object({ name: z.string(), version: z.string(), state: z.string() })),
            }),
            'models',
          ),
          ...errors(),
        },
      },
    },
    '/v2/repository/index': {
      post: {
        tags: ['v2'],
        summary:
          'Repository index: served models, then as UNAVAILABLE those whose file is missing or corrupted here and those this instance leaves out',
        requestBody: { required: false, content: { 'application/json': { schema: repositoryIndexSchema } } },
        responses: {
          '200': json(
            z.array(
              z.object({ name: z.string(), version: z.string(), state: z.string(), reason: z.string() }),
            ),
            'index',
          ),
          ...errors(400),
        },
      },
    },
    ...modelPaths('/v2/models/{model}', model),
    ...modelPaths('/v2/models/{model}/versions/{version}', model.extend({ version: z.string() })),
  };
}
