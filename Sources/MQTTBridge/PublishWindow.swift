import Foundation

/// Bounds the publishes in flight. Beyond the broker's receive maximum libmosquitto queues
/// without limit, so the bridge keeps its own window and makes excess publishers wait (in
/// FIFO order) for a slot instead — at most `maxWaiting` of them, each at most until the publish
/// timeout (``failWaiters(enqueuedBefore:)``): a broker that stops answering makes callers fail
/// fast instead of piling up. A waiter whose task is cancelled (its HTTP request was reset)
/// leaves the queue at once, so abandoned requests hold neither a place nor memory.
final class PublishWindow: Sendable {
    private struct Waiter {
        var continuation: CheckedContinuation<Void, any Error>
        var since: ContinuousClock.Instant
    }

    private struct State {
        var inUse = 0
        var capacity: Int
        /// Waiters by ticket; `order` is their FIFO (tickets of cancelled waiters are skipped).
        var waiters: [UInt64: Waiter] = [:]
        var order: [UInt64] = []
        var head = 0
        var nextTicket: UInt64 = 0

        var waiting: Int { waiters.count }

        /// The oldest waiter still waiting, removed from the queue.
        mutating func popOldest() -> Waiter? {
            while head < order.count {
                let ticket = order[head]
                head += 1
                if let waiter = waiters.removeValue(forKey: ticket) {
                    compactIfDrained()
                    return waiter
                }
            }
            compactIfDrained()
            return nil
        }

        /// The oldest waiter's enqueue time, skipping cancelled tickets.
        mutating func oldestSince() -> ContinuousClock.Instant? {
            while head < order.count {
                if let waiter = waiters[order[head]] { return waiter.since }
                head += 1
            }
            compactIfDrained()
            return nil
        }

        mutating func compactIfDrained() {
            if head == order.count {
                order.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 4096, head * 2 > order.count {
                order.removeFirst(head)
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

    /// Waits for a slot; throws ``MQTTBridgeError/overloaded`` at once when `maxWaiting` wait
    /// already, and ``MQTTBridgeError/cancelled`` when the calling task is cancelled first.
    func acquire() async throws {
        if Task.isCancelled { throw MQTTBridgeError.cancelled }
        let ticket = state.withLock { state in
            defer { state.nextTicket &+= 1 }
            return state.nextTicket
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Bool?? = state.withLock { state in
                    // Checked under the lock the cancellation handler takes: either it runs
                    // after this enqueues (and removes the waiter) or this sees the flag.
                    if Task.isCancelled { return .some(nil) }
                    if state.inUse < state.capacity, state.waiting == 0 {
                        state.inUse += 1
                        return true
                    }
                    guard state.waiting < maxWaiting else { return nil }
                    state.waiters[ticket] = Waiter(continuation: continuation, since: .now)
                    state.order.append(ticket)
                    return false
                }
                switch outcome {
                case true??: continuation.resume()
                case false??: break
                case .some(nil): continuation.resume(throwing: MQTTBridgeError.cancelled)
                case nil: continuation.resume(throwing: MQTTBridgeError.overloaded)
                }
            }
        } onCancel: {
            // Not waiting (granted a slot already, or refused): nothing to remove — the publish
            // checks for cancellation itself before it sends.
            let waiter = state.withLock { $0.waiters.removeValue(forKey: ticket) }
            waiter?.continuation.resume(throwing: MQTTBridgeError.cancelled)
        }
    }

    /// Returns a slot, handing it straight to the oldest waiter if there is one.
    func release() {
        let next: CheckedContinuation<Void, any Error>? = state.withLock { state in
            if state.inUse <= state.capacity, let waiter = state.popOldest() {
                return waiter.continuation
            }
            state.inUse -= 1
            return nil
        }
        next?.resume()
    }

    /// The window's size now (the configured maximum, lowered by the broker's receive maximum).
    var capacity: Int { state.withLock { $0.capacity } }

    /// Publishers waiting for a slot now.
    var waiting: Int { state.withLock { $0.waiting } }

    /// Changes the capacity (the broker's receive maximum is known only after CONNACK) and
    /// admits waiters that now fit.
    func setCapacity(_ capacity: Int) {
        let admitted: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            state.capacity = max(1, capacity)
            var admitted: [CheckedContinuation<Void, any Error>] = []
            while state.inUse < state.capacity, let waiter = state.popOldest() {
                admitted.append(waiter.continuation)
                state.inUse += 1
            }
            return admitted
        }
        for waiter in admitted { waiter.resume() }
    }

    /// Fails every waiter (the connection went away: they must not wait for the next one).
    func failWaiters(_ error: MQTTBridgeError) {
        let waiters: [Waiter] = state.withLock { state in
            var waiting: [Waiter] = []
            while let waiter = state.popOldest() { waiting.append(waiter) }
            return waiting
        }
        for waiter in waiters { waiter.continuation.resume(throwing: error) }
    }

    /// Fails the waiters that have waited since before `cutoff` (they were never sent).
    func failWaiters(enqueuedBefore cutoff: ContinuousClock.Instant) {
        let expired: [Waiter] = state.withLock { state in
            var expired: [Waiter] = []
            while let since = state.oldestSince(), since < cutoff, let waiter = state.popOldest() {
                expired.append(waiter)
            }
            return expired
        }
        for waiter in expired { waiter.continuation.resume(throwing: MQTTBridgeError.overloaded) }
    }
}
