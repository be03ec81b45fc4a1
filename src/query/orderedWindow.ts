/** Results consumed in the order they were pushed (by one producer or several), each as soon as it and those before it are ready. */
export interface OrderedWindow<T> {
  /**
   * Queue a pending result. A `counted` one takes one of the window's places: the push waits while
   * all are taken (results being consumed hold none). Throws what the consumer threw.
   */
  push(value: Promise<T>, counted: boolean): Promise<void>
  /** Wait until everything pushed is consumed; throws what the consumer threw. */
  end(): Promise<void>
  /** Drop what is queued and wait for the result being consumed, if any. */
  abort(): Promise<void>
}

/**
 * A window of at most `capacity` counted results in flight, consumed in order by `consume` while the
 * producer goes on: a result that is ready is never held back by a producer waiting for something else.
 */
export function orderedWindow<T>(capacity: number, consume: (value: T) => Promise<void>): OrderedWindow<T> {
  const queue: { value: Promise<T>, counted: boolean }[] = []
  let taken = 0
  let closed = false
  let failed = false
  let failure: unknown
  let wakeConsumer: (() => void) | undefined
  // several producers may wait at once (stats reads shards side by side): each rechecks when woken
  let producers: (() => void)[] = []
  const wake = (which: 'consumer' | 'producer') => {
    if (which === 'consumer') {
      const resolve = wakeConsumer
      wakeConsumer = undefined
      resolve?.()
    } else {
      const waiting = producers
      producers = []
      for (const resolve of waiting) resolve()
    }
  }

  const consumer = (async () => {
    for (;;) {
      while (queue.length === 0) {
        if (closed) return
        await new Promise<void>((resolve) => { wakeConsumer = resolve })
      }
      const head = queue.shift()!
      try {
        await consume(await head.value)
      } finally {
        if (head.counted) taken--
        wake('producer')
      }
    }
  })()
  consumer.catch((error: unknown) => {
    failed = true
    failure = error
    queue.length = 0
    wake('producer')
  })

  return {
    async push(value, counted) {
      value.catch(() => {}) // surfaced in order, by the consumer
      while (counted && taken >= capacity && !failed) await new Promise<void>((resolve) => { producers.push(resolve) })
      if (failed) throw failure
      queue.push({ value, counted })
      if (counted) taken++
      wake('consumer')
    },
    async end() {
      closed = true
      wake('consumer')
      await consumer
    },
    async abort() {
      closed = true
      queue.length = 0
      wake('consumer')
      await consumer.catch(() => {})
    },
  }
}
