
/// Operations sent to the broker and awaiting their acknowledgement, keyed by the bridge's
/// ticket for each (the connection maps tickets to packet identifiers on its event loop).
///
/// A ticket is registered before its operation is handed to the connection, but the slot still
/// allows the answer to come first (`acknowledged` parks it until the waiter registers), so the
/// order of the two never matters. Completions are always resumed outside the lock, and exactly
/// once: by the answer, by ``fail(_:_:)`` when the connection refuses it before sending, by
/// ``failAll(_:)`` when the connection goes, or by ``abandon(waitingSince:)`` when the publish
/// timeout passes. An abandoned slot stays until the broker settles it, and
/// `onAbandonedSettled` then returns its window slot.
final class PendingAcks: Sendable {
    /// Called exactly once with the broker's reason code, or the error that ended the wait.
    typealias Completion = @Sendable (Result<Int32, MQTTBridgeError>) -> Void

    private enum Slot {
        /// `windowed`: a publish holding a window slot (a subscribe holds none).
        case waiting(Completion, since: ContinuousClock.Instant, windowed: Bool)
        case acknowledged(Int32)
        /// Timed out: the caller was told; the broker still owes the PUBACK.
        case abandoned(since: ContinuousClock.Instant, windowed: Bool)
    }

    private struct State {
        var slots: [Int32: Slot] = [:]
        /// Waiters for "nothing in flight" (graceful shutdown), by id so cancellation can find them.
        var drainWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID = 0
    }

    private let state = Locked(State())
    /// Runs once for each abandoned publish the broker settles (or whose connection goes).
    private let onAbandonedSettled: @Sendable () -> Void

    init(onAbandonedSettled: @escaping @Sendable () -> Void = {}) {
        self.onAbandonedSettled = onAbandonedSettled
    }

    /// Registers the waiter for `mid`, or completes it at once if the ack already came.
    /// `windowed`: it holds a publish window slot, returned when an abandoned one settles.
    /// `since`: when the operation began (its timeout runs from then).
    func register(_ mid: Int32, windowed: Bool = false, since: ContinuousClock.Instant = .now, _ continuation: @escaping Completion) {
        let early: Int32? = state.withLock { state in
            if case .acknowledged(let code) = state.slots.removeValue(forKey: mid) { return code }
            state.slots[mid] = .waiting(continuation, since: since, windowed: windowed)
            return nil
        }
        if let early { continuation(.success(early)) }
        notifyIfDrained()
    }

    /// Fails the operation `mid` with `error` (the connection refused it before sending it).
    func fail(_ mid: Int32, _ error: MQTTBridgeError) {
        let found: Slot? = state.withLock { $0.slots.removeValue(forKey: mid) }
        switch found {
        case .waiting(let continuation, _, _)?: continuation(.failure(error))
        case .abandoned(_, let windowed)?: if windowed { onAbandonedSettled() }
        case .acknowledged?, nil: break
        }
        notifyIfDrained()
    }

    /// Records the broker's answer for `mid` (called on the connection's event loop).
    func acknowledge(_ mid: Int32, code: Int32) {
        enum Found { case waiting(Completion), abandoned(windowed: Bool), early }
        let found: Found = state.withLock { state in
            switch state.slots.removeValue(forKey: mid) {
            case .waiting(let continuation, _, _)?: return .waiting(continuation)
            case .abandoned(_, let windowed)?: return .abandoned(windowed: windowed)
            case .acknowledged?, nil:
                state.slots[mid] = .acknowledged(code)
                return .early
            }
        }
        switch found {
        case .waiting(let continuation): continuation(.success(code))
        case .abandoned(let windowed): if windowed { onAbandonedSettled() }
        case .early: break
        }
        notifyIfDrained()
    }

    /// Fails every waiting operation and forgets early acks and abandoned ones (the connection
    /// they belong to is gone).
    func failAll(_ error: MQTTBridgeError) {
        let (waiting, settled): ([Completion], Int) = state.withLock { state in
            var continuations: [Completion] = [], settled = 0
            for slot in state.slots.values {
                switch slot {
                case .waiting(let continuation, _, _): continuations.append(continuation)
                case .abandoned(_, let windowed): if windowed { settled += 1 }
                case .acknowledged: break
                }
            }
            state.slots.removeAll()
            return (continuations, settled)
        }
        for continuation in waiting { continuation(.failure(error)) }
        for _ in 0..<settled { onAbandonedSettled() }
        notifyIfDrained()
    }

    /// Fails the operations waiting since before `cutoff` with ``MQTTBridgeError/timedOut``;
    /// their slots stay, abandoned, until the broker settles them.
    func abandon(waitingSince cutoff: ContinuousClock.Instant) {
        let expired: [Completion] = state.withLock { state in
            var expired: [Completion] = []
            for (mid, slot) in state.slots {
                guard case .waiting(let continuation, let since, let windowed) = slot, since < cutoff else { continue }
                state.slots[mid] = .abandoned(since: since, windowed: windowed)
                expired.append(continuation)
            }
            return expired
        }
        for continuation in expired { continuation(.failure(.timedOut)) }
    }

    /// When the oldest operation still owed an answer by the broker was sent, if any.
    var oldestOutstanding: ContinuousClock.Instant? {
        state.withLock { state in
            state.slots.values.compactMap { slot -> ContinuousClock.Instant? in
                switch slot {
                case .waiting(_, let since, _), .abandoned(let since, _): since
                case .acknowledged: nil
                }
            }.min()
        }
    }

    /// How many operations await an ack.
    var count: Int { state.withLock { $0.slots.count } }

    /// Returns once nothing is in flight, or when the calling task is cancelled.
    func waitUntilDrained() async {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.slots.isEmpty || Task.isCancelled { return true }
                    state.drainWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.drainWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    private func notifyIfDrained() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard state.slots.isEmpty, !state.drainWaiters.isEmpty else { return [] }
            defer { state.drainWaiters.removeAll() }
            return Array(state.drainWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }
}
