/// Bounds the publishes in flight. Beyond the broker's receive maximum libmosquitto queues
/// without limit, so the bridge keeps its own window and makes excess publishers wait (in
/// FIFO order) for a slot instead.
final class PublishWindow: Sendable {
    private struct State {
        var inUse = 0
        var capacity: Int
        var waiters: [CheckedContinuation<Void, any Error>] = []
        var head = 0

        mutating func compactIfDrained() {
            if head == waiters.count {
                waiters.removeAll(keepingCapacity: true)
                head = 0
            }
        }
    }

    private let state: Locked<State>

    init(capacity: Int) { state = Locked(State(capacity: max(1, capacity))) }

    /// Waits for a slot.
    func acquire() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let granted = state.withLock { state in
                if state.inUse < state.capacity, state.head == state.waiters.count {
                    state.inUse += 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    /// Returns a slot, handing it straight to the oldest waiter if there is one.
    func release() {
        let next: CheckedContinuation<Void, any Error>? = state.withLock { state in
            if state.head < state.waiters.count, state.inUse <= state.capacity {
                let waiter = state.waiters[state.head]
                state.head += 1
                state.compactIfDrained()
                return waiter
            }
            state.inUse -= 1
            return nil
        }
        next?.resume()
    }

    /// Changes the capacity (the broker's receive maximum is known only after CONNACK) and
    /// admits waiters that now fit.
    func setCapacity(_ capacity: Int) {
        let admitted: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            state.capacity = max(1, capacity)
            var admitted: [CheckedContinuation<Void, any Error>] = []
            while state.inUse < state.capacity, state.head < state.waiters.count {
                admitted.append(state.waiters[state.head])
                state.head += 1
                state.inUse += 1
            }
            state.compactIfDrained()
            return admitted
        }
        for waiter in admitted { waiter.resume() }
    }

    /// Fails every waiter (the connection went away: they must not wait for the next one).
    func failWaiters(_ error: MQTTBridgeError) {
        let waiters: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            let waiting = Array(state.waiters[state.head...])
            state.waiters.removeAll()
            state.head = 0
            return waiting
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }
}
