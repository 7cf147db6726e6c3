import Foundation
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// The state of the broker connection.
public enum MQTTConnectionState: Hashable, Sendable, CustomStringConvertible {
    /// Connecting (or waiting to reconnect after a failure).
    case connecting
    /// Connected: the broker accepted the CONNECT.
    case connected
    /// Not connected; the reason of the last failure. The bridge keeps retrying.
    case disconnected(reason: String)
    /// Shut down for good.
    case shutDown

    public var description: String {
        switch self {
        case .connecting: "connecting"
        case .connected: "connected"
        case .disconnected(let reason): "disconnected (\(reason))"
        case .shutDown: "shut down"
        }
    }
}

/// A handle returned by ``MQTTBridge/subscribe(_:qos:handler:)``; pass it to
/// ``MQTTBridge/unsubscribe(_:)``.
public struct MQTTSubscription: Hashable, Sendable {
    /// The topic filter.
    public let filter: String
    let id: Int
}

/// One shared, self-healing connection to an MQTT broker, on a NIO event loop of its own
/// (``MQTTClientConnection``).
///
/// - ``publish(topic:payload:qos:retain:properties:)`` returns when the broker acknowledged
///   (QoS 1: PUBACK) or the packet was written to the socket (QoS 0). While disconnected it
///   fails at once with ``MQTTBridgeError/brokerUnavailable(_:)``: nothing is parked to go out
///   later. A publish in flight when the connection drops fails with
///   ``MQTTBridgeError/connectionLost``: the broker may or may not have it (at-least-once).
/// - ``subscribe(_:qos:handler:)`` registers a handler; subscriptions are restored after every
///   reconnect. Handlers run on the connection's event loop: keep them short.
/// - The bridge reconnects by itself with exponential backoff and jitter. Each connection
///   starts empty, so no message of a dead connection is ever re-sent behind the caller's back.
/// - It is a `Service`: ``run()`` owns the connection thread (which connects, waits and
///   reconnects) and the event loop, from connecting until graceful shutdown or cancellation,
///   when it drains what is in flight (up to ``MQTTBridgeConfiguration/shutdownDrainSeconds``),
///   disconnects and joins the thread.
///   ``withRunning(_:)`` runs it around a block of code (tools and tests).
public final class MQTTBridge: Service, Sendable {
    /// The configuration it connects with.
    public let configuration: MQTTBridgeConfiguration
    let core: Core

    /// Creates the bridge; ``run()`` connects.
    public init(configuration: MQTTBridgeConfiguration, logger: Logger = Logger(label: "pushgate.mqtt")) {
        self.configuration = configuration
        self.core = Core(configuration: configuration, logger: logger)
    }

    /// Connects and keeps the connection until graceful shutdown or cancellation, then drains
    /// what is in flight, disconnects and joins the network thread. Call it once.
    public func run() async throws {
        core.start()
        let stop = core.stopRequests
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for await _ in stop {}
            } onGracefulShutdown: {
                self.core.requestStop()
            }
        } onCancel: {
            core.requestStop()
        }
        await core.shutdown(deadline: .seconds(configuration.shutdownDrainSeconds))
    }

    /// Runs the bridge for the duration of `body` (``run()`` in a child task, cancelled when
    /// `body` returns), so the thread never outlives the block.
    public func withRunning<Result: Sendable>(_ body: (MQTTBridge) async throws -> Result) async throws -> Result {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run() }
            do {
                let result = try await body(self)
                group.cancelAll()
                try await group.waitForAll()
                return result
            } catch {
                group.cancelAll()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    /// A bridge dropped without ``shutdown(deadline:)`` still stops its network thread, so it
    /// never outlives its owner (in-flight publishes then fail with ``MQTTBridgeError/connectionLost``).
    deinit {
        core.stop()
    }

    /// The current connection state.
    public var state: MQTTConnectionState { core.state }

    /// Whether the broker connection is up.
    public var isConnected: Bool { core.state == .connected }

    /// Whether a publish or subscribe has gone unanswered longer than the publish timeout: the
    /// broker is alive to TCP but not answering (stopped, overloaded).
    public var isStalled: Bool {
        guard let oldest = core.pending.oldestOutstanding else { return false }
        return ContinuousClock.now - oldest > .milliseconds(configuration.publishTimeoutMilliseconds)
    }

    /// Counters for metrics and tests.
    public var statistics: MQTTBridgeStatistics { core.statistics }

    /// Waits until connected, or throws ``MQTTBridgeError/brokerUnavailable(_:)`` with the last
    /// failure once `timeout` has passed.
    public func waitUntilConnected(timeout: Duration = .seconds(10)) async throws(MQTTBridgeError) {
        let deadline = ContinuousClock.now + timeout
        while true {
            switch core.state {
            case .connected: return
            case .shutDown: throw .shutDown
            case .connecting, .disconnected: break
            }
            if ContinuousClock.now >= deadline {
                throw .brokerUnavailable("not connected after \(timeout): \(core.state)")
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Publishes a message and returns once the broker has it.
    ///
    /// - Parameters:
    ///   - topic: the topic (no wildcards).
    ///   - payload: the bytes, sent unchanged.
    ///   - qos: `.atLeastOnce` waits for PUBACK; `.atMostOnce` for the socket write.
    ///   - retain: the MQTT retain flag.
    ///   - properties: MQTT 5 properties (dropped on an MQTT 3.1.1 connection).
    /// - Throws: ``MQTTBridgeError``.
    @discardableResult
    public func publish<Payload: Collection<UInt8>>(
        topic: String,
        payload: Payload,
        qos: MQTTQoS = .atLeastOnce,
        retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) async throws(MQTTBridgeError) -> MQTTPublishAck {
        do {
            return try await core.publish(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties)
        } catch let error as MQTTBridgeError {
            throw error
        } catch {
            throw .client(code: -1, message: "\(error)")
        }
    }

    /// Subscribes to a topic filter. When connected, returns after the broker's SUBACK (and
    /// throws if it refused); otherwise the subscription is made on the next connect. Either
    /// way it is restored after every reconnect until ``unsubscribe(_:)``.
    ///
    /// `handler` runs on the connection's event loop for every matching message. A shared
    /// subscription (`$share/<group>/<filter>`) gets each matching message once across every
    /// client subscribed in that group.
    @discardableResult
    public func subscribe(
        _ filter: String,
        qos: MQTTQoS = .atLeastOnce,
        handler: @escaping @Sendable (MQTTMessage) -> Void
    ) async throws(MQTTBridgeError) -> MQTTSubscription {
        do {
            return try await core.subscribe(filter, qos: qos, handler: handler)
        } catch let error as MQTTBridgeError {
            throw error
        } catch {
            throw .client(code: -1, message: "\(error)")
        }
    }

    /// Stops a subscription.
    public func unsubscribe(_ subscription: MQTTSubscription) {
        core.unsubscribe(subscription)
    }

    /// Refuses new publishes, waits up to `deadline` for those in flight to be acknowledged,
    /// disconnects cleanly and joins the network thread (``run()`` then returns). Publishes
    /// still in flight after the deadline fail with ``MQTTBridgeError/connectionLost``.
    public func shutdown(deadline: Duration = .seconds(5)) async {
        await core.shutdown(deadline: deadline)
    }
}

/// What the bridge has done so far.
public struct MQTTBridgeStatistics: Sendable {
    /// Successful connects (CONNACK accepted).
    public var connects = 0
    /// Connections lost or refused.
    public var disconnects = 0
    /// Publishes acknowledged by the broker.
    public var published = 0
    /// Publishes that failed.
    public var failed = 0
    /// Messages received on subscriptions.
    public var received = 0
    /// Times the bridge backed off because another client kept taking its session over (MQTT 5
    /// reason 0x8E, or connections closed right after they were accepted).
    public var takeovers = 0
    /// Publishes awaiting an ack right now.
    public var inFlight = 0
    /// QoS 1 publishes allowed in flight at once (`mqtt.max_inflight`, lowered to the broker's
    /// receive maximum).
    public var window = 0
}

// MARK: - Core

extension MQTTBridge {
    /// The shared state behind the public API.
    final class Core: Sendable {
        /// The current connection. Publishers hold ``connection``'s lock while they hand an
        /// operation to it, so a connection that ends either sees the operation registered (and
        /// fails it) or ended before it (and the publisher was refused).
        struct Handle: Sendable {
            let connection: MQTTClientConnection
        }

        /// Counters, updated without a lock.
        struct Counters: ~Copyable {
            let connects = Atomic<Int>(0)
            let disconnects = Atomic<Int>(0)
            let published = Atomic<Int>(0)
            let failed = Atomic<Int>(0)
            let received = Atomic<Int>(0)
            let takeovers = Atomic<Int>(0)
        }

        struct Subscription {
            var id: Int
            var filter: String
            var qos: MQTTQoS
            var handler: @Sendable (MQTTMessage) -> Void

            /// The filter messages are matched against: a shared subscription
            /// (`$share/<group>/<filter>`) delivers messages whose topics match `<filter>`.
            var matchFilter: String {
                guard filter.hasPrefix("$share/") else { return filter }
                let parts = filter.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
                return parts.count == 3 ? String(parts[2]) : filter
            }
        }

        let configuration: MQTTBridgeConfiguration
        let logger: Logger
        /// The connection's state.
        let connection = Locked(ConnectionStateMachine<Handle>())
        /// When a failed connect attempt was last logged.
        let lastConnectFailureReport = Locked<ContinuousClock.Instant?>(nil)
        /// When the current connection was accepted.
        let connectedAt = Locked<ContinuousClock.Instant?>(nil)
        /// The broker node of the current or last attempt.
        let currentBroker: Locked<MQTTBrokerAddress>
        let counters = Counters()
        /// The connection thread's name, and the event loop's (unique per bridge, within
        /// Linux's 15 characters).
        let threadName: String
        let pending: PendingAcks
        let window: PublishWindow
        let subscriptions = Locked<(nextID: Int, entries: [Subscription])>((0, []))
        /// The next operation ticket (``PendingAcks`` keys).
        private let nextTicket = Atomic<Int32>(0)
        /// The event loop the connection runs on.
        let group: MultiThreadedEventLoopGroup
        /// Wakes the connection thread from a wait (shutdown, or the connection ended).
        let wakeup = DispatchSemaphore(value: 0)
        /// Whether the connection thread was started, and waiters for its exit.
        let thread = Locked<(started: Bool, done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, false, []))
        /// Ends when ``requestStop()`` is called (``run()`` waits on it).
        let stopRequests: AsyncStream<Void>
        private let stopContinuation: AsyncStream<Void>.Continuation

        init(configuration: MQTTBridgeConfiguration, logger: Logger) {
            self.configuration = configuration
            self.logger = logger
            self.currentBroker = Locked(MQTTBrokerAddress(host: configuration.host, port: configuration.port))
            let window = PublishWindow(capacity: configuration.maxInflight, maxWaiting: configuration.maxWaitingPublishes)
            self.window = window
            // A timed-out publish keeps its window slot until the broker settles it.
            self.pending = PendingAcks(onAbandonedSettled: { window.release() })
            let threadName = "pgmqtt-\(Core.instances.add(1, ordering: .relaxed).newValue)"
            self.threadName = threadName
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            group.next().execute { MQTTBridge.nameCurrentThread(threadName) }
            self.group = group
            (stopRequests, stopContinuation) = AsyncStream.makeStream(of: Void.self)
        }

        deinit {
            // Once started, the connection thread shuts the event loop down as it exits.
            if !thread.withLock({ $0.started }) { group.shutdownGracefully { _ in } }
        }

        func requestStop() { stopContinuation.finish() }

        private static let instances = Atomic<Int>(0)

        var state: MQTTConnectionState { connection.withLock { $0.publicState } }

        var statistics: MQTTBridgeStatistics {
            MQTTBridgeStatistics(
                connects: counters.connects.load(ordering: .relaxed),
                disconnects: counters.disconnects.load(ordering: .relaxed),
                published: counters.published.load(ordering: .relaxed),
                failed: counters.failed.load(ordering: .relaxed),
                received: counters.received.load(ordering: .relaxed),
                takeovers: counters.takeovers.load(ordering: .relaxed),
                inFlight: pending.count,
                window: window.capacity
            )
        }

        /// A ticket no operation in flight has (they wrap after 2³¹, long after any is settled).
        func ticket() -> Int32 {
            let value = nextTicket.wrappingAdd(1, ordering: .relaxed).newValue
            return value == Int32.min || value == 0 ? ticket() : value & Int32.max
        }

        func start() {
            let first = thread.withLock { state in
                defer { state.started = true }
                return !state.started
            }
            precondition(first, "MQTTBridge.run() may be called once")
            let connectionThread = Thread { [self] in
                // Named from inside: Foundation on Linux does not pass a name given before start to
                // the kernel, and the thread would carry its creator's name in top and /proc.
                MQTTBridge.nameCurrentThread(threadName + "c")
                runConnectionLoop()
                // The connection is closed: its event loop has nothing left to run.
                try? group.syncShutdownGracefully()
                let waiters = thread.withLock { state in
                    state.done = true
                    defer { state.waiters.removeAll() }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume() }
            }
            connectionThread.name = threadName + "c"
            connectionThread.start()
        }

        // MARK: Publish

        func publish<Payload: Collection<UInt8>>(
            topic: String, payload: Payload, qos: MQTTQoS, retain: Bool, properties: MQTTProperties
        ) async throws -> MQTTPublishAck {
            // Fail fast while down: a 503 must mean "not sent".
            if let refusal { throw refusal }
            let header = try publishHeader(topic: topic, qos: qos, retain: retain, properties: properties)
            // One deadline for the whole publish: time spent waiting for a window slot counts
            // against the PUBACK's timeout too (a push never waits twice the timeout).
            let started = ContinuousClock.now
            try await window.acquire()
            var holdsSlot = true
            defer { if holdsSlot { window.release() } }
            // A request reset while it waited for the window: nobody wants the outcome, so the
            // message is not sent (the sender learns nothing, and retries if it cares).
            if Task.isCancelled { throw MQTTBridgeError.cancelled }
            let body = Self.buffer(payload)

            let code: Int32
            do {
                // Unsafe (no checking canary, an allocation per publish): PendingAcks resumes
                // each registered operation exactly once, and a refusal here is not registered.
                code = try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Int32, any Error>) in
                    let failure: MQTTBridgeError? = connection.withLock { connection in
                        let handle: Handle
                        do throws(MQTTBridgeError) {
                            handle = try connection.handleForUse()
                        } catch {
                            return error
                        }
                        let ticket = ticket()
                        pending.register(ticket, windowed: true, since: started) { continuation.resume(with: $0) }
                        handle.connection.publish(header, payload: body, ticket: ticket)
                        return nil
                    }
                    if let failure { continuation.resume(throwing: failure) }
                }
            } catch {
                // Timed out: the broker still owes this PUBACK, and the slot is returned then.
                if case MQTTBridgeError.timedOut = error { holdsSlot = false }
                counters.failed.add(1, ordering: .relaxed)
                throw error
            }
            return try settle(.success(code)).get()
        }

        /// A checked publish header (properties dropped on MQTT 3.1.1); its packet identifier is
        /// assigned when it is written.
        func publishHeader(topic: String, qos: MQTTQoS, retain: Bool, properties: MQTTProperties) throws(MQTTBridgeError) -> MQTTPublishHeader {
            let header = MQTTPublishHeader(
                topic: topic, packetID: qos == .atLeastOnce ? 1 : nil, retain: retain,
                properties: configuration.protocolVersion == .v5 ? properties : MQTTProperties())
            do {
                try header.validate()
            } catch {
                counters.failed.add(1, ordering: .relaxed)
                throw .invalidTopic(topic)
            }
            return header
        }

        /// The payload in a buffer of its own (the caller's collection may not outlive the call).
        /// A `ByteBufferView` (Pushgate's request body) is used as it is: its buffer is a value
        /// the caller cannot change under us, and copying 4 KiB per push was a profile's 5 %.
        static func buffer<Payload: Collection<UInt8>>(_ payload: Payload) -> ByteBuffer {
            // Resolved when the function is specialized: no dynamic cast on the push path.
            if let view = payload as? ByteBufferView { return ByteBuffer(view) }
            var buffer = ByteBufferAllocator().buffer(capacity: payload.count)
            buffer.writeBytes(payload)
            return buffer
        }

        /// Why a publish would be refused right now (not connected, shutting down), if it would.
        var refusal: MQTTBridgeError? {
            connection.withLock { connection in
                do throws(MQTTBridgeError) {
                    _ = try connection.handleForUse()
                    return nil
                } catch {
                    return error
                }
            }
        }

        /// A publish's outcome from the broker's answer (an MQTT 5 reason code of 0x80 or more
        /// is a refusal), counted as published or failed.
        func settle(_ answer: Result<Int32, MQTTBridgeError>) -> Result<MQTTPublishAck, MQTTBridgeError> {
            switch answer {
            case .success(let code) where code >= 0x80:
                counters.failed.add(1, ordering: .relaxed)
                return .failure(.rejected(reasonCode: Int(code), reason: MQTTReasonCode.text(UInt8(truncatingIfNeeded: code))))
            case .success(let code):
                counters.published.add(1, ordering: .relaxed)
                return .success(MQTTPublishAck(reasonCode: Int(code)))
            case .failure(let error):
                counters.failed.add(1, ordering: .relaxed)
                return .failure(error)
            }
        }

        /// Where the connection answers ticketed operations.
        var answers: MQTTClientConnection.Answers {
            MQTTClientConnection.Answers { [pending] ticket, result in
                switch result {
                case .success(let code): pending.acknowledge(ticket, code: code)
                case .failure(let error): pending.fail(ticket, error)
                }
            }
        }

        // MARK: Subscribe

        func subscribe(_ filter: String, qos: MQTTQoS, handler: @escaping @Sendable (MQTTMessage) -> Void) async throws -> MQTTSubscription {
            guard MQTTSubscriptionPacket.isValidFilter(filter) else { throw MQTTBridgeError.invalidTopic(filter) }
            let id = subscriptions.withLock { state in
                state.nextID += 1
                state.entries.append(Subscription(id: state.nextID, filter: filter, qos: qos, handler: handler))
                return state.nextID
            }
            let code: Int32? = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32?, any Error>) in
                let sent: Bool = connection.withLock { connection in
                    guard let handle = try? connection.handleForUse() else { return false }
                    let ticket = ticket()
                    pending.register(ticket) { result in continuation.resume(with: result.map { Optional($0) }) }
                    handle.connection.send(subscription: filter, qos: qos, ticket: ticket)
                    return true
                }
                // Not connected: it is sent with the others on the next connect.
                if !sent { continuation.resume(returning: nil) }
            }
            if let code, code >= 0x80 {
                unsubscribe(MQTTSubscription(filter: filter, id: id))
                throw MQTTBridgeError.rejected(reasonCode: Int(code), reason: MQTTReasonCode.text(UInt8(truncatingIfNeeded: code)))
            }
            return MQTTSubscription(filter: filter, id: id)
        }

        func unsubscribe(_ subscription: MQTTSubscription) {
            let stillUsed = subscriptions.withLock { state in
                state.entries.removeAll { $0.id == subscription.id }
                return state.entries.contains { $0.filter == subscription.filter }
            }
            guard !stillUsed else { return }
            connection.withLock { connection in
                guard let handle = try? connection.handleForUse() else { return }
                handle.connection.send(subscription: subscription.filter, qos: nil, ticket: nil)
            }
        }

        // MARK: Shutdown

        /// Stops at once: refuses publishes, disconnects, wakes the connection thread so it exits.
        func stop() {
            connection.withLock { _ = $0.shutdownRequested() }
            disconnectNow()
        }

        /// Disconnects the live connection, if any, and wakes the connection thread so it exits.
        private func disconnectNow() {
            connection.withLock { connection in
                if case .shuttingDown(let handle?) = connection.state { handle.connection.disconnect() }
            }
            window.failWaiters(.shutDown)
            wakeup.signal()
            requestStop()
        }

        func shutdown(deadline: Duration) async {
            let alreadyDown = connection.withLock { connection in
                defer { _ = connection.shutdownRequested() }
                return connection.isShuttingDown
            }
            if !alreadyDown {
                window.failWaiters(.shutDown)
                // Drain: wait for in-flight acks, at most until the deadline.
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.pending.waitUntilDrained() }
                    group.addTask { try? await Task.sleep(for: deadline) }
                    await group.next()
                    group.cancelAll()
                }
                disconnectNow()
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = thread.withLock { state in
                    if state.started && !state.done { state.waiters.append(continuation) }
                    return !state.started || state.done
                }
                if done { continuation.resume() }
            }
            connection.withLock { $0.threadExited() }
        }
    }

    /// Names the calling thread (at most 15 bytes show) for top, perf and /proc. (Foundation
    /// passes a name set on the current thread to the kernel; one set before start it does not.)
    static func nameCurrentThread(_ name: String) {
        Thread.current.name = String(name.utf8.prefix(15))!
    }
}
