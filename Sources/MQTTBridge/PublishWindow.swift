import Foundation

/// Bounds the publishes in flight. Beyond the broker's receive maximum the connection would queue
/// them without limit, so the bridge keeps its own window and makes excess publishers wait (in
/// FIFO order) for a slot instead — at most `maxWaiting` of them, each at most until the publish
/// timeout (``failWaiters(enqueuedBefore:)``): a broker that stops answering makes callers fail
/// fast instead of piling up. A waiter whose task is cancelled (its HTTP request was reset)
/// leaves the queue at once, so abandoned requests hold neither a place nor memory.
final class PublishWindow: Sendable {
    private struct Waiter {
        var continuation: CheckedContinuation<Void, any Error>
        var since: ContinuousClock.Instant
        /// Slots it waits for, granted together (a batch's chunk; 1 for a single publish).
        var count: Int
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

        /// The oldest waiter still waiting, left in the queue (cancelled tickets skipped).
        mutating func oldest() -> Waiter? {
            while head < order.count {
                if let waiter = waiters[order[head]] { return waiter }
                head += 1
            }
            compactIfDrained()
            return nil
        }

        /// Takes the slots of the waiters at the head of the queue that fit now, in order (a
        /// waiter for more slots than are free holds back those behind it: FIFO, so a batch
        /// cannot be starved by single publishes).
        mutating func admitFitting() -> [CheckedContinuation<Void, any Error>] {
            var admitted: [CheckedContinuation<Void, any Error>] = []
            while let waiter = oldest(), inUse + waiter.count <= capacity {
                _ = popOldest()
                inUse += waiter.count
                admitted.append(waiter.continuation)
            }
            return admitted
        }

        /// Takes `count` slots (at most the capacity) if they are free and nobody waits before
        /// this caller (FIFO).
        mutating func takeIfFree(_ count: Int) -> Bool {
            let count = min(count, capacity)
            guard inUse + count <= capacity, waiting == 0 else { return false }
            inUse += count
            return true
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

    /// Waits for `count` slots at once (at most the capacity, which may shrink to the broker's
    /// receive maximum after CONNACK); throws
    /// ``MQTTBridgeError/overloaded`` at once when `maxWaiting` wait already, and
    /// ``MQTTBridgeError/cancelled`` when the calling task is cancelled first.
    func acquire(count: Int = 1) async throws {
        precondition(count >= 1, "a window acquisition takes at least one slot")
        if Task.isCancelled { throw MQTTBridgeError.cancelled }
        // The common case — a slot is free and nobody waits — takes it without a continuation
        // or a cancellation handler (each an allocation and a task status record per publish).
        if state.withLock({ $0.takeIfFree(count) }) { return }
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
                    if state.takeIfFree(count) { return true }
                    guard state.waiting < maxWaiting else { return nil }
                    state.waiters[ticket] = Waiter(continuation: continuation, since: .now, count: min(count, state.capacity))
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

    /// Returns `count` slots, handing them to the oldest waiters they admit.
    func release(count: Int = 1) {
        let admitted: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            state.inUse -= count
            return state.admitFitting()
        }
        for waiter in admitted { waiter.resume() }
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
            // A waiter asked for more than the new capacity gets the whole window.
            for (ticket, waiter) in state.waiters where waiter.count > state.capacity {
                state.waiters[ticket]?.count = state.capacity
            }
            return state.admitFitting()
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
            while let oldest = state.oldest(), oldest.since < cutoff, let waiter = state.popOldest() {
                expired.append(waiter)
            }
            return expired
        }
        for waiter in expired { waiter.continuation.resume(throwing: MQTTBridgeError.overloaded) }
    }
}
