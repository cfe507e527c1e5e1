/**
 * The response shape shared by the transport and the token flow.
 * @module
 */

/**
 * The part of a response the client reads. Blob bodies are large, so the
 * default path is undici's `request` (a Node stream, a fraction of the cost of
 * fetch's web streams per chunk); an injected fetch is adapted to the same shape.
 */
export interface HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  readonly body: (AsyncIterable<Uint8Array> & { cancel(): Promise<void> }) | null;
  text(): Promise<string>;
}
