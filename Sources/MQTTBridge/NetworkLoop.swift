import CMosquitto
import Foundation
import Logging

extension MQTTBridge.Core {
    /// The network thread: connect, run libmosquitto's loop until the connection ends, clean up,
    /// back off, repeat, until shutdown.
    func runNetworkLoop() {
        var attempt = 0
        // Connections in a row that the broker closed within seconds of accepting them.
        var shortLived = 0
        let brokers = configuration.brokers
        var brokerIndex = 0
        while !connection.withLock({ $0.isShuttingDown }) {
            let broker = brokers[brokerIndex % brokers.count]
            currentBroker.withLock { $0 = broker }
            guard let pointer = mosquitto_new(configuration.clientID, configuration.cleanStart, userdata) else {
                logger.error("mosquitto_new failed")
                backOff(attempt: &attempt)
                continue
            }
            let handle = Handle(pointer: pointer)
            guard connection.withLock({ $0.attemptStarted(handle) }) else {
                mosquitto_destroy(pointer)
                break
            }
            var reason = "connection closed"
            let rc = configure(handle)
            if rc == MOSQ_ERR_SUCCESS.rawValue {
                let connectRC = mosquitto_connect_bind_v5(pointer, broker.host, Int32(broker.port),
                                                          Int32(configuration.keepAliveSeconds), nil, nil)
                if connectRC == MOSQ_ERR_SUCCESS.rawValue {
                    // Each turn blocks until traffic, a publisher's wake-up, or 100 ms (for
                    // keepalive, and so publish timeouts are enforced to within 0.1 s even while
                    // the broker is silent); returns an error once the connection is gone.
                    var loopRC: Int32 = MOSQ_ERR_SUCCESS.rawValue
                    while loopRC == MOSQ_ERR_SUCCESS.rawValue {
                        loopRC = loopWakeup.isAvailable ? turn(pointer) : mosquitto_loop(pointer, 100, 1)
                        applyEvents(handle)
                        sweepTimeouts()
                    }
                    applyEvents(handle)
                    reason = Mosquitto.errorText(loopRC)
                } else {
                    reason = "cannot connect to \(broker): \(Mosquitto.errorText(connectRC))"
                    if connectRC == MOSQ_ERR_ERRNO.rawValue { reason += " (\(String(cString: strerror(errno))))" }
                    reportConnectFailure(reason)
                }
            } else {
                reason = "invalid client settings: \(Mosquitto.errorText(rc))"
            }
            // After this no publisher can reach the handle, so it can be destroyed.
            let wasConnected = connectionEnded(reason: reason)
            mosquitto_destroy(pointer)
            if connection.withLock({ $0.isShuttingDown }) { break }
            let sessionTakenOver = takenOver.withLock { flag in
                defer { flag = false }
                return flag
            }
            // (The loss may have been handled already when the callback reported it, so
            // "was connected" is read from when the CONNACK came, not from connectionEnded.)
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

    /// One turn of the network loop, in place of `mosquitto_loop`: wait (at most 100 ms) for the
    /// broker's socket or ``LoopWakeup``, read what arrived (acknowledgements, messages), write
    /// everything queued since the last turn, and keep the connection alive.
    ///
    /// The writes of one turn are corked (TCP_CORK): libmosquitto writes each packet with its own
    /// `write`, and uncorked each would be its own TCP segment — on loopback, its own pass through
    /// the broker's receive path too. Corked, a burst of publishes leaves in full segments.
    private func turn(_ pointer: OpaquePointer) -> Int32 {
        let socket = mosquitto_socket(pointer)
        guard socket >= 0 else { return MOSQ_ERR_NO_CONN.rawValue }
        let ready = pushgate_poll(socket, mosquitto_want_write(pointer) ? 1 : 0, loopWakeup.descriptor, 100)
        if ready < 0 { return errno == EINTR ? MOSQ_ERR_SUCCESS.rawValue : MOSQ_ERR_ERRNO.rawValue }
        if ready & 4 != 0 { loopWakeup.drain() }
        if ready & 1 != 0 {
            let rc = mosquitto_loop_read(pointer, 1)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { return rc }
        }
        if mosquitto_want_write(pointer) {
            pushgate_cork(socket, 1)
            let rc = mosquitto_loop_write(pointer, 1)
            // (After a failed write the socket may be gone already; uncorking it then is harmless.)
            pushgate_cork(socket, 0)
            guard rc == MOSQ_ERR_SUCCESS.rawValue else { return rc }
        }
        return mosquitto_loop_misc(pointer)
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

    /// Applies protocol version, credentials, TLS and callbacks to a new handle.
    private func configure(_ handle: Handle) -> Int32 {
        let pointer = handle.pointer
        mosquitto_threaded_set(pointer, true)
        let version = configuration.protocolVersion == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
        var rc = mosquitto_int_option(pointer, MOSQ_OPT_PROTOCOL_VERSION, version)
        // The send quota for MQTT 3.1.1 (MQTT 5 takes the broker's receive maximum instead).
        rc = rc != 0 ? rc : mosquitto_int_option(pointer, MOSQ_OPT_SEND_MAXIMUM, Int32(configuration.maxInflight))
        rc = rc != 0 ? rc : mosquitto_int_option(pointer, MOSQ_OPT_TCP_NODELAY, 1)
        if let username = configuration.username {
            rc = rc != 0 ? rc : mosquitto_username_pw_set(pointer, username, configuration.password)
        }
        if let tls = configuration.tls {
            if tls.caFile == nil {
                rc = rc != 0 ? rc : mosquitto_int_option(pointer, MOSQ_OPT_TLS_USE_OS_CERTS, 1)
            }
            rc = rc != 0 ? rc : mosquitto_tls_set(pointer, tls.caFile, tls.caFile == nil ? "/etc/ssl/certs" : nil,
                                                  tls.certificateFile, tls.privateKeyFile, nil)
        }
        mosquitto_connect_v5_callback_set(pointer) { _, userdata, rc, _, properties in
            MQTTBridge.Core.from(userdata)?.didConnect(rc: rc, properties: properties)
        }
        mosquitto_disconnect_v5_callback_set(pointer) { _, userdata, rc, _ in
            MQTTBridge.Core.from(userdata)?.didDisconnect(rc: rc)
        }
        mosquitto_publish_v5_callback_set(pointer) { _, userdata, mid, reasonCode, _ in
            MQTTBridge.Core.from(userdata)?.pending.acknowledge(mid, code: reasonCode)
        }
        mosquitto_subscribe_v5_callback_set(pointer) { _, userdata, mid, count, granted, _ in
            let code = count > 0 ? (granted?[0] ?? 0x80) : 0x80
            MQTTBridge.Core.from(userdata)?.pending.acknowledge(mid, code: code)
        }
        mosquitto_message_v5_callback_set(pointer) { _, userdata, message, properties in
            guard let message else { return }
            MQTTBridge.Core.from(userdata)?.didReceive(message.pointee, properties: properties)
        }
        return rc
    }

    static func from(_ userdata: UnsafeMutableRawPointer?) -> MQTTBridge.Core? {
        userdata.map { Unmanaged<MQTTBridge.Core>.fromOpaque($0).takeUnretainedValue() }
    }

    // MARK: Callbacks (libmosquitto's network thread)

    private func didConnect(rc: Int32, properties: OpaquePointer?) {
        let receiveMaximum = Mosquitto.readInt16(properties, MQTT_PROP_RECEIVE_MAXIMUM).map(Int.init) ?? 65535
        events.withLock { $0.connack = (rc, receiveMaximum) }
    }

    private func didDisconnect(rc: Int32) {
        guard rc != 0 else { return }
        if configuration.protocolVersion == .v5, rc == Mosquitto.sessionTakenOver { takenOver.withLock { $0 = true } }
        let reason = configuration.protocolVersion == .v5 && rc >= 0x80 ? Mosquitto.reasonText(rc) : Mosquitto.errorText(rc)
        events.withLock { $0.disconnectReason = reason }
    }

    // MARK: Events (network thread, outside libmosquitto)

    /// Applies what the callbacks reported during the last `mosquitto_loop` call.
    private func applyEvents(_ handle: Handle) {
        let (connack, disconnectReason) = events.withLock { events in
            defer { events = Events() }
            return (events.connack, events.disconnectReason)
        }
        // In the order they happened: a refusing CONNACK names the reason better than the
        // disconnect that follows it.
        if let connack { connected(code: connack.code, receiveMaximum: connack.receiveMaximum, handle: handle) }
        if let reason = disconnectReason { connectionEnded(reason: reason) }
    }

    private func connected(code rc: Int32, receiveMaximum: Int, handle: Handle) {
        guard rc == 0 else {
            // MQTT 5 reason codes (0x80+) and MQTT 3.1.1 CONNACK codes (1-5) have different texts.
            let text = configuration.protocolVersion == .v5 ? Mosquitto.reasonText(rc) : String(cString: mosquitto_connack_string(rc))
            var metadata: Logger.Metadata = ["reason": "\(text)", "broker": "\(currentBroker.withLock { $0 })"]
            if let hint = Self.refusalHint(rc, v5: configuration.protocolVersion == .v5) { metadata["hint"] = "\(hint)" }
            logger.warning("broker refused the connection", metadata: metadata)
            connectionEnded(reason: "connection refused: \(text)")
            return
        }
        window.setCapacity(min(configuration.maxInflight, receiveMaximum))
        guard connection.withLock({ $0.connackAccepted() }) else {
            // Shutdown was asked for while connecting.
            mosquitto_disconnect_v5(handle.pointer, 0, nil)
            return
        }
        counters.connects.add(1, ordering: .relaxed)
        connectedAt.withLock { $0 = .now }
        // Restore every subscription on the new connection.
        let filters = subscriptions.withLock { state in
            Dictionary(state.entries.map { ($0.filter, $0.qos.rawValue) }, uniquingKeysWith: max)
        }
        for (filter, qos) in filters {
            var mid: Int32 = 0
            guard mosquitto_subscribe_v5(handle.pointer, &mid, filter, Int32(qos), 0, nil) == MOSQ_ERR_SUCCESS.rawValue else { continue }
            // Collect the SUBACK so it does not linger in the table; a refusal is worth a log line.
            pending.register(mid) { [logger] result in
                if case .success(let code) = result, code >= 0x80 {
                    logger.error("broker refused a restored subscription", metadata: ["filter": "\(filter)", "reason": "\(Mosquitto.reasonText(code))"])
                }
            }
        }
        logger.info("connected to MQTT broker", metadata: [
            "broker": "\(currentBroker.withLock { $0 })",
            "client_id": "\(configuration.clientID)",
            "window": "\(min(configuration.maxInflight, receiveMaximum))",
            "subscriptions": "\(subscriptions.withLock { $0.entries.count })",
        ])
    }

    private func didReceive(_ message: mosquitto_message, properties: OpaquePointer?) {
        let topic = String(cString: message.topic)
        let handlers = subscriptions.withLock { state in
            state.entries.filter { entry in
                var matches = false
                mosquitto_topic_matches_sub(entry.matchFilter, message.topic, &matches)
                return matches
            }.map(\.handler)
        }
        guard !handlers.isEmpty else { return }
        let payload = message.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(message.payloadlen))) } ?? []
        let received = MQTTMessage(
            topic: topic, payload: payload, qos: Int(message.qos), retain: message.retain,
            properties: Mosquitto.properties(from: properties)
        )
        counters.received.add(1, ordering: .relaxed)
        for handler in handlers { handler(received) }
    }

    /// Fails what has waited past the publish timeout (at most every 100 ms): publishes still
    /// waiting for a window slot (not sent: ``MQTTBridgeError/overloaded``) and operations waiting
    /// for the broker's answer (``MQTTBridgeError/timedOut``: it may still arrive).
    private func sweepTimeouts() {
        let now = ContinuousClock.now
        let due = lastSweep.withLock { last in
            guard now - last >= .milliseconds(100) else { return false }
            last = now
            return true
        }
        guard due else { return }
        let cutoff = now - .milliseconds(configuration.publishTimeoutMilliseconds)
        window.failWaiters(enqueuedBefore: cutoff)
        pending.abandon(waitingSince: cutoff)
    }

    // MARK: State

    /// The attempt or connection ended: publishers can no longer use the handle, and everything
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
