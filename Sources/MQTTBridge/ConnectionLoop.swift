import Foundation
import Logging
import NIOCore
import Synchronization

extension MQTTBridge.Core {
    /// The connection thread: connect, wait while the connection lasts (failing publishes past
    /// their timeout every 100 ms), clean up, back off, repeat, until shutdown. It only waits:
    /// every packet is read and written on the connection's event loop.
    func runConnectionLoop() {
        var attempt = 0
        // Connections in a row that the broker closed within seconds of accepting them.
        var shortLived = 0
        let brokers = configuration.brokers
        var brokerIndex = 0
        while !connection.withLock({ $0.isShuttingDown }) {
            let broker = brokers[brokerIndex % brokers.count]
            currentBroker.withLock { $0 = broker }
            guard connection.withLock({ $0.attemptStarted() }) else { break }
            var reason = "connection closed"
            var sessionTakenOver = false
            let connecting = MQTTClientConnection.connect(
                to: broker, configuration: configuration, group: group, answers: answers,
                onMessage: { [weak self] message in self?.didReceive(message) })
            do {
                let client = try connecting.wait()
                let ended = DispatchSemaphore(value: 0)
                client.ended.whenComplete { _ in ended.signal() }
                if connected(client) {
                    // Until the connection ends; every 100 ms, fail what waited past its timeout.
                    while ended.wait(timeout: .now() + .milliseconds(100)) == .timedOut { sweepTimeouts() }
                } else {
                    // Shutdown was asked for while connecting.
                    client.disconnect()
                    ended.wait()
                }
                let end = try client.ended.wait()
                reason = end.reason
                sessionTakenOver = configuration.protocolVersion == .v5 && end.reasonCode == MQTTReasonCode.sessionTakenOver
            } catch MQTTBridgeError.rejected(let code, let text) {
                var metadata: Logger.Metadata = ["reason": "\(text)", "broker": "\(broker)"]
                if let hint = Self.refusalHint(Int32(code), v5: configuration.protocolVersion == .v5) { metadata["hint"] = "\(hint)" }
                logger.warning("broker refused the connection", metadata: metadata)
                reason = "connection refused: \(text)"
            } catch {
                reason = "\(error)"
                if !connection.withLock({ $0.isShuttingDown }) { reportConnectFailure(reason) }
            }
            let wasConnected = connectionEnded(reason: reason)
            if connection.withLock({ $0.isShuttingDown }) { break }
            // (The loss may have been handled already, so "was connected" is read from when
            // the CONNACK came, not from connectionEnded.)
            if let since = connectedAt.withLock({ at in defer { at = nil }; return at }) {
                shortLived = ContinuousClock.now - since < Self.shortLivedConnection ? shortLived + 1 : 0
            }
            // Another client took this session over (MQTT 5 reason 0x8E; brokers that just close
            // the old connection show it as connections dropped right after they were made).
            // Coming straight back would take it back, and the two would evict each other many
            // times a second.
            if sessionTakenOver || shortLived >= Self.flappingThreshold {
                logger.error("the broker keeps closing this connection right after accepting it, most likely because another client uses the same client id; waiting before reconnecting", metadata: [
                    "client_id": "\(configuration.clientID)", "retry_in_ms": "\(configuration.takeoverBackoffMilliseconds)",
                    "reason": "\(sessionTakenOver ? "session taken over (0x8E)" : "\(shortLived) connections in a row closed within 2 s")",
                    "hint": "two processes share mqtt.client_id: leave it unset so each instance derives its own, or give each a distinct one",
                ])
                counters.takeovers.add(1, ordering: .relaxed)
                _ = wakeup.wait(timeout: .now() + .milliseconds(configuration.takeoverBackoffMilliseconds))
                continue
            }
            if wasConnected { attempt = 0 }
            // Next time, the next node of a clustered broker.
            if brokers.count > 1 { brokerIndex += 1 }
            backOff(attempt: &attempt)
        }
        connection.withLock { $0.threadExited() }
    }

    /// What to do about a refused CONNECT, for the reasons an operator can fix.
    static func refusalHint(_ code: Int32, v5: Bool) -> String? {
        switch (v5, code) {
        case (true, 0x86), (false, 4): "the broker refused the user name or password: set mqtt.username and mqtt.password_file (or password_env)"
        case (true, 0x87), (false, 5): "the broker does not authorize this client: check mqtt.username and the broker's ACL for it"
        case (true, 0x85), (false, 2): "the broker refused the client id: set mqtt.client_id to one it accepts"
        case (true, 0x84), (false, 1): "the broker does not speak this MQTT version: set mqtt.protocol_version"
        default: nil
        }
    }

    /// A failed connect attempt is logged at most every 30 s (retries go on quietly between),
    /// so a broker that is down shows in the log without flooding it.
    private func reportConnectFailure(_ reason: String) {
        let now = ContinuousClock.now
        let due = lastConnectFailureReport.withLock { last in
            guard last.map({ now - $0 >= .seconds(30) }) ?? true else { return false }
            last = now
            return true
        }
        if due { logger.warning("cannot reach the MQTT broker; retrying", metadata: ["reason": "\(reason)"]) }
    }

    /// A connection the broker closes sooner than this after accepting it counts as short-lived.
    static let shortLivedConnection = Duration.seconds(2)
    /// Short-lived connections in a row that mean "something evicts us" (a client-id clash).
    static let flappingThreshold = 3

    /// The broker accepted `client`: publishes may use it, and every subscription is restored
    /// on it. Returns `false` when shutdown was asked for meanwhile.
    private func connected(_ client: MQTTClientConnection) -> Bool {
        let receiveMaximum = client.connAck.properties.receiveMaximum.map(Int.init) ?? 65_535
        window.setCapacity(min(configuration.maxInflight, receiveMaximum))
        guard connection.withLock({ $0.connackAccepted(Handle(connection: client)) }) else { return false }
        counters.connects.add(1, ordering: .relaxed)
        connectedAt.withLock { $0 = .now }
        let filters = subscriptions.withLock { state in
            Dictionary(state.entries.map { ($0.filter, $0.qos) }, uniquingKeysWith: { $0.rawValue >= $1.rawValue ? $0 : $1 })
        }
        for (filter, qos) in filters {
            // Collect the SUBACK so it does not linger in the table; a refusal is worth a log line.
            let ticket = ticket()
            pending.register(ticket) { [logger] result in
                if case .success(let code) = result, code >= 0x80 {
                    logger.error("broker refused a restored subscription", metadata: [
                        "filter": "\(filter)", "reason": "\(MQTTReasonCode.text(UInt8(truncatingIfNeeded: code)))",
                    ])
                }
            }
            client.send(subscription: filter, qos: qos, ticket: ticket)
        }
        logger.info("connected to MQTT broker", metadata: [
            "broker": "\(currentBroker.withLock { $0 })",
            "client_id": "\(configuration.clientID)",
            "window": "\(min(configuration.maxInflight, receiveMaximum))",
            "subscriptions": "\(subscriptions.withLock { $0.entries.count })",
        ])
        return true
    }

    /// A message on one of the subscriptions (on the connection's event loop).
    private func didReceive(_ message: MQTTMessage) {
        let handlers = subscriptions.withLock { state in
            state.entries.filter { MQTTTopicFilter.matches($0.matchFilter, topic: message.topic) }.map(\.handler)
        }
        guard !handlers.isEmpty else { return }
        counters.received.add(1, ordering: .relaxed)
        for handler in handlers { handler(message) }
    }

    /// Fails what has waited past the publish timeout: publishes still waiting for a window
    /// slot (not sent: ``MQTTBridgeError/overloaded``) and operations waiting for the broker's
    /// answer (``MQTTBridgeError/timedOut``: it may still arrive).
    private func sweepTimeouts() {
        let cutoff = ContinuousClock.now - .milliseconds(configuration.publishTimeoutMilliseconds)
        window.failWaiters(enqueuedBefore: cutoff)
        pending.abandon(waitingSince: cutoff)
    }

    // MARK: State

    /// The attempt or connection ended: publishers can no longer use it, and everything
    /// waiting on it fails. Idempotent. Returns whether it had been connected.
    @discardableResult
    private func connectionEnded(reason: String) -> Bool {
        let (wasConnected, shuttingDown) = connection.withLock { ($0.connectionEnded(reason: reason), $0.isShuttingDown) }
        if wasConnected { counters.disconnects.add(1, ordering: .relaxed) }
        pending.failAll(.connectionLost)
        window.failWaiters(.brokerUnavailable(reason))
        if wasConnected && shuttingDown {
            logger.info("disconnected from MQTT broker (shutdown)")
        } else if wasConnected {
            logger.warning("lost the MQTT broker connection", metadata: ["reason": "\(reason)"])
        }
        return wasConnected
    }

    /// Sleeps for the next backoff delay (exponential with jitter, capped), or until shutdown.
    private func backOff(attempt: inout Int) {
        let base = Double(configuration.reconnectInitialDelayMilliseconds) * pow(2, Double(min(attempt, 20)))
        let capped = min(base, Double(configuration.reconnectMaxDelayMilliseconds))
        // "Equal jitter": the delay is 50–100 % of the capped value, so a fleet of gateways does
        // not reconnect in step.
        let delay = capped / 2 + Double.random(in: 0...(capped / 2))
        attempt += 1
        _ = wakeup.wait(timeout: .now() + .milliseconds(Int(delay)))
    }
}
