
/// Operations sent to the broker and awaiting their acknowledgement, keyed by message id.
///
/// libmosquitto assigns the message id inside `mosquitto_publish_v5`, and its loop thread may
/// deliver the PUBACK before that call returns on the publishing thread. So a slot is either
/// `waiting` (the publisher registered first) or `acknowledged` (the ack won the race and parks
/// its result until the publisher collects it). Completions are always resumed outside the
/// lock, and exactly once: by the ack, or by ``failAll(_:)`` when the connection goes.
final class PendingAcks: Sendable {
    /// Called exactly once with the broker's reason code, or the error that ended the wait.
    typealias Completion = @Sendable (Result<Int32, MQTTBridgeError>) -> Void

    private enum Slot {
        case waiting(Completion)
        case acknowledged(Int32)
    }

    private struct State {
        var slots: [Int32: Slot] = [:]
        /// Waiters for "nothing in flight" (graceful shutdown), by id so cancellation can find them.
        var drainWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID = 0
    }

    private let state = Locked(State())

    /// Registers the waiter for `mid`, or completes it at once if the ack already came.
    func register(_ mid: Int32, _ continuation: @escaping Completion) {
        let early: Int32? = state.withLock { state in
            if case .acknowledged(let code) = state.slots.removeValue(forKey: mid) { return code }
            state.slots[mid] = .waiting(continuation)
            return nil
        }
        if let early { continuation(.success(early)) }
        notifyIfDrained()
    }

    /// Records the broker's answer for `mid` (called on libmosquitto's loop thread).
    func acknowledge(_ mid: Int32, code: Int32) {
        let waiting: Completion? = state.withLock { state in
            if case .waiting(let continuation) = state.slots.removeValue(forKey: mid) { return continuation }
            state.slots[mid] = .acknowledged(code)
            return nil
        }
        waiting?(.success(code))
        notifyIfDrained()
    }

    /// Fails every waiting operation and forgets early acks (the connection they belong to is gone).
    func failAll(_ error: MQTTBridgeError) {
        let waiting: [Completion] = state.withLock { state in
            let continuations = state.slots.values.compactMap { slot -> Completion? in
                if case .waiting(let continuation) = slot { return continuation }
                return nil
            }
            state.slots.removeAll()
            return continuations
        }
        for continuation in waiting { continuation(.failure(error)) }
        notifyIfDrained()
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
