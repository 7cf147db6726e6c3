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
///
/// `Handle` is what a live connection is used through (generic so tests need no connection).
struct ConnectionStateMachine<Handle> {
    enum State {
        /// Created; ``MQTTBridge/run()`` has not started the connection thread.
        case idle
        /// An attempt is under way (connecting, CONNECT sent, no CONNACK yet); the previous
        /// attempt's failure stays visible while retrying.
        case connecting(lastFailure: String?)
        /// The broker accepted the connection: publishes may use it.
        case connected(Handle)
        /// Between attempts, after a failure.
        case waiting(reason: String)
        /// Shutdown was asked for; the connection, if any, is being disconnected.
        case shuttingDown(Handle?)
        /// The connection thread has exited.
        case shutDown
    }

    private(set) var state = State.idle

    /// What the public API shows.
    var publicState: MQTTConnectionState {
        switch state {
        case .idle: .disconnected(reason: "not started")
        case .connecting(let failure?): .disconnected(reason: failure)
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

    /// The connection to publish or subscribe on, or why there is none. A 503 must mean "not sent",
    /// so anything but `connected` refuses at once.
    func handleForUse() throws(MQTTBridgeError) -> Handle {
        switch state {
        case .connected(let handle): return handle
        case .shuttingDown, .shutDown: throw .shutDown
        default: throw .brokerUnavailable(publicState.description)
        }
    }

    /// The connection thread starts an attempt. Returns `false` when shutting down (the caller
    /// exits).
    mutating func attemptStarted() -> Bool {
        switch state {
        case .idle: state = .connecting(lastFailure: nil)
        case .waiting(let reason): state = .connecting(lastFailure: reason)
        case .connecting(let failure): state = .connecting(lastFailure: failure)
        case .shuttingDown, .shutDown: return false
        case .connected: preconditionFailure("a new attempt while connected")
        }
        return true
    }

    /// CONNACK accepted on `handle`. Returns `false` when shutting down meanwhile (the caller
    /// disconnects it).
    mutating func connackAccepted(_ handle: Handle) -> Bool {
        guard case .connecting = state else { return false }
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

    /// Shutdown asked for: returns the connection to disconnect, if one is live (an attempt
    /// still connecting is disconnected by the connection thread when it completes). Idempotent.
    mutating func shutdownRequested() -> Handle? {
        switch state {
        case .connected(let handle):
            state = .shuttingDown(handle)
            return handle
        case .idle, .waiting, .connecting:
            state = .shuttingDown(nil)
            return nil
        case .shuttingDown, .shutDown:
            return nil
        }
    }

    /// The connection thread is gone (or was never started).
    mutating func threadExited() {
        state = .shutDown
    }
}
