import Foundation

/// Bounds the publishes in flight. Beyond the broker's receive maximum libmosquitto queues
/// without limit, so the bridge keeps its own window and makes excess publishers wait (in
/// FIFO order) for a slot instead — at most `maxWaiting` of them, each at most until the publish
/// timeout (``failWaiters(enqueuedBefore:)``): a broker that stops answering makes callers fail
/// fast instead of piling up.
final class PublishWindow: Sendable {
    private struct Waiter {
        var continuation: CheckedContinuation<Void, any Error>
        var since: ContinuousClock.Instant
    }

    private struct State {
        var inUse = 0
        var capacity: Int
        var waiters: [Waiter] = []
        var head = 0

        var waiting: Int { waiters.count - head }

        mutating func compactIfDrained() {
            if head == waiters.count {
                waiters.removeAll(keepingCapacity: true)
                head = 0
            }
        }
    }

    private let state: Locked<State>
    private let maxWaiting: Int

    init(capacity: Int, maxWaiting: Int = .max) {
        state = Locked(State(capacity: max(1, capacity)))
        self.maxWaiting = max(0, maxWaiting)
    }

    /// Waits for a slot; throws ``MQTTBridgeError/overloaded`` at once when `maxWaiting` wait already.
    func acquire() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome: Bool? = state.withLock { state in
                if state.inUse < state.capacity, state.head == state.waiters.count {
                    state.inUse += 1
                    return true
                }
                guard state.waiting < maxWaiting else { return nil }
                state.waiters.append(Waiter(continuation: continuation, since: .now))
                return false
            }
            switch outcome {
            case true?: continuation.resume()
            case false?: break
            case nil: continuation.resume(throwing: MQTTBridgeError.overloaded)
            }
        }
    }

    /// Returns a slot, handing it straight to the oldest waiter if there is one.
    func release() {
        let next: CheckedContinuation<Void, any Error>? = state.withLock { state in
            if state.head < state.waiters.count, state.inUse <= state.capacity {
                let waiter = state.waiters[state.head]
                state.head += 1
                state.compactIfDrained()
                return waiter.continuation
            }
            state.inUse -= 1
            return nil
        }
        next?.resume()
    }

    /// Changes the capacity (the broker's receive maximum is known only after CONNACK) and
    /// admits waiters that now fit.
    /// The window's size now (the configured maximum, lowered by the broker's receive maximum).
    var capacity: Int { state.withLock { $0.capacity } }

    func setCapacity(_ capacity: Int) {
        let admitted: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            state.capacity = max(1, capacity)
            var admitted: [CheckedContinuation<Void, any Error>] = []
            while state.inUse < state.capacity, state.head < state.waiters.count {
                admitted.append(state.waiters[state.head].continuation)
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
        let waiters: [Waiter] = state.withLock { state in
            let waiting = Array(state.waiters[state.head...])
            state.waiters.removeAll()
            state.head = 0
            return waiting
        }
        for waiter in waiters { waiter.continuation.resume(throwing: error) }
    }

    /// Fails the waiters that have waited since before `cutoff` (they were never sent).
    func failWaiters(enqueuedBefore cutoff: ContinuousClock.Instant) {
        let expired: [Waiter] = state.withLock { state in
            var expired: [Waiter] = []
            while state.head < state.waiters.count, state.waiters[state.head].since < cutoff {
                expired.append(state.waiters[state.head])
                state.head += 1
            }
            state.compactIfDrained()
            return expired
        }
        for waiter in expired { waiter.continuation.resume(throwing: MQTTBridgeError.overloaded) }
    }
}
