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
  /** Bytes one connection delivers in one round trip; 0 until both a latency and a rate were seen. */
  roundTripBytes(): number
}

/** Bodies shorter than this say more about latency than rate (a footer tail is this long). */
const measurableBodyBytes = 64 * 1024
/** Weight of each new rate sample in the running average. */
const smoothing = 0.2

/**
 * A running estimate from the requests a client makes. The latency is the smallest seen: the first
 * requests also open connections (TCP, TLS) and API answers take server time, and neither is what
 * one more request on an open connection costs. Nothing is assumed before a rate is measured: a
 * guess too high would fetch whole files on a slow link.
 */
export function linkEstimate(): LinkEstimate {
  let latencyMs = Infinity
  let bytesPerSecond: number | undefined
  return {
    observeLatency(ms) {
      latencyMs = Math.min(latencyMs, Math.max(0, ms))
    },
    observeBody(bytes, ms) {
      if (bytes < measurableBodyBytes || ms <= 0) return
      const sample = (bytes * 1000) / ms
      bytesPerSecond = bytesPerSecond === undefined ? sample : bytesPerSecond + smoothing * (sample - bytesPerSecond)
    },
    roundTripBytes() {
      return bytesPerSecond === undefined || !Number.isFinite(latencyMs) ? 0 : Math.round((latencyMs / 1000) * bytesPerSecond)
    },
  }
}
