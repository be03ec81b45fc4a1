/**
 * What one round trip to the servers is worth in bytes: the time a response takes to start, times
 * what one connection delivers per second once it flows (the bandwidth-delay product). A read
 * smaller than that costs about the same wall time as the round trip a second request would take,
 * so a small file is better fetched whole with its footer than in two requests.
 */
export interface LinkEstimate {
  /** A response's headers arrived `ms` after its request was sent. */
  observeLatency(ms: number): void
  /** A body delivered `bytes` in `ms` once its first byte had arrived. */
  observeBody(bytes: number, ms: number): void
  /** Bytes one connection delivers in one round trip; 0 before any latency was seen. */
  roundTripBytes(): number
}

/**
 * Assumed per-connection rate until a body large enough to measure has arrived: the low end of what
 * the Hub's CDN gives one connection (tens of MB/s), so a slow link fetches little more than it should.
 */
const assumedBytesPerSecond = 16 * 1024 * 1024
/** Bodies shorter than this say more about latency than rate. */
const measurableBodyBytes = 256 * 1024
/** Weight of each new sample in the running averages. */
const smoothing = 0.2

/** A running estimate from the requests a client makes. */
export function linkEstimate(): LinkEstimate {
  let latencyMs: number | undefined
  let bytesPerSecond: number | undefined
  const average = (previous: number | undefined, sample: number) => previous === undefined ? sample : previous + smoothing * (sample - previous)
  return {
    observeLatency(ms) {
      latencyMs = average(latencyMs, Math.max(0, ms))
    },
    observeBody(bytes, ms) {
      if (bytes >= measurableBodyBytes && ms > 0) bytesPerSecond = average(bytesPerSecond, (bytes * 1000) / ms)
    },
    roundTripBytes() {
      return latencyMs === undefined ? 0 : Math.round((latencyMs / 1000) * (bytesPerSecond ?? assumedBytesPerSecond))
    },
  }
}
