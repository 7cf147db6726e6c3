/// The broker connection's lifecycle as one value. Every event goes through a transition that
/// changes the state and tells the caller what to do, so "connected" has one source of truth
/// (the swift-nio / async-http-client connection state machines are the model).
///
/// ```
/// idle ──start──▶ connecting ──CONNACK ok──▶ connected
///                  ▲    │ refused / failed        │ lost
///                  │    ▼                         ▼
///                  └─ waiting(reason) ◀───────────┘
/// any ──shutdown──▶ shuttingDown ──thread exits──▶ shutDown
/// ```
struct ConnectionStateMachine {
    enum State {
        /// Created; ``MQTTBridge/run()`` has not started the network thread.
        case idle
        /// An attempt is under way on this handle (CONNECT sent, no CONNACK yet); the previous
        /// attempt's failure stays visible while retrying.
        case connecting(MQTTBridge.Core.Handle, lastFailure: String?)
        /// The broker accepted the connection: publishes may use the handle.
        case connected(MQTTBridge.Core.Handle)
        /// Between attempts, after a failure.
        case waiting(reason: String)
        /// Shutdown was asked for; the handle, if any, is being disconnected.
        case shuttingDown(MQTTBridge.Core.Handle?)
        /// The network thread has exited.
        case shutDown
    }

    private(set) var state = State.idle

    /// What the public API shows.
    var publicState: MQTTConnectionState {
        switch state {
        case .idle: .disconnected(reason: "not started")
        case .connecting(_, let failure?): .disconnected(reason: failure)
        case .connecting: .connecting
        case .connected: .connected
        case .waiting(let reason): .disconnected(reason: reason)
        case .shuttingDown, .shutDown: .shutDown
        }
    }

    var isShuttingDown: Bool {
        switch state {
        case .shuttingDown, .shutDown: true
        default: false
        }
    }

    /// The handle to publish or subscribe on, or why there is none. A 503 must mean "not sent",
    /// so anything but `connected` refuses at once.
    func handleForUse() throws(MQTTBridgeError) -> MQTTBridge.Core.Handle {
        switch state {
        case .connected(let handle): return handle
        case .shuttingDown, .shutDown: throw .shutDown
        default: throw .brokerUnavailable(publicState.description)
        }
    }

    /// The network thread made a handle and sent CONNECT. Returns `false` when shutting down
    /// (the caller destroys the handle and exits).
    mutating func attemptStarted(_ handle: MQTTBridge.Core.Handle) -> Bool {
        switch state {
        case .idle: state = .connecting(handle, lastFailure: nil)
        case .waiting(let reason): state = .connecting(handle, lastFailure: reason)
        case .connecting(_, let failure): state = .connecting(handle, lastFailure: failure)
        case .shuttingDown, .shutDown: return false
        case .connected: preconditionFailure("a new attempt while connected")
        }
        return true
    }

    /// CONNACK accepted. Returns `false` when shutting down meanwhile.
    mutating func connackAccepted() -> Bool {
        guard case .connecting(let handle, _) = state else { return false }
        state = .connected(handle)
        return true
    }

    /// The attempt or the connection ended (refused, lost, closed). Returns whether it had been
    /// connected, so the caller fails what was in flight and logs the loss once. Idempotent.
    mutating func connectionEnded(reason: String) -> Bool {
        switch state {
        case .connected:
            state = .waiting(reason: reason)
            return true
        case .connecting:
            state = .waiting(reason: reason)
            return false
        case .shuttingDown:
            state = .shuttingDown(nil)
            return false
        case .idle, .waiting, .shutDown:
            return false
        }
    }

    /// Shutdown asked for: returns the handle to disconnect, if one is live. Idempotent.
    mutating func shutdownRequested() -> MQTTBridge.Core.Handle? {
        switch state {
        case .connecting(let handle, _), .connected(let handle):
            state = .shuttingDown(handle)
            return handle
        case .idle, .waiting:
            state = .shuttingDown(nil)
            return nil
        case .shuttingDown, .shutDown:
            return nil
        }
    }

    /// The network thread is gone (or was never started).
    mutating func threadExited() {
        state = .shutDown
    }
}
