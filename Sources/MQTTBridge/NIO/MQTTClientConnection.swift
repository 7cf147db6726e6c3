package import NIOCore
import NIOPosix
import NIOSSL

/// One MQTT connection to a broker on a NIO channel: the client under ``MQTTBridge``, written on
/// event loops like Pushgate's HTTP side, in place of libmosquitto and its network thread.
///
/// Operations may come from any thread; each is encoded straight into an outbound buffer on the
/// connection's event loop, and the broker's answers are parsed from buffered reads. A batch
/// shares one payload buffer among its copies and is flushed once.
package final class MQTTClientConnection: Sendable {
    /// Where answers to ``MQTTClientHandler/Waiter/ticket(_:)`` operations go: the broker's
    /// reason code, or a failure found before sending (too large, invalid filter). Called on
    /// the connection's event loop.
    package final class Answers: Sendable {
        let answer: @Sendable (Int32, Result<Int32, MQTTBridgeError>) -> Void

        /// Answers go to `answer`.
        package init(_ answer: @escaping @Sendable (Int32, Result<Int32, MQTTBridgeError>) -> Void) {
            self.answer = answer
        }

        func answer(_ ticket: Int32, _ result: Result<Int32, MQTTBridgeError>) { answer(ticket, result) }
    }

    /// The connection's channel.
    package let channel: any Channel
    private let handler: NIOLoopBound<MQTTClientHandler>
    /// The broker's CONNACK.
    package let connAck: MQTTConnAck
    /// Succeeds once the connection has ended, with why.
    package let ended: EventLoopFuture<MQTTConnectionEnd>

    private init(channel: any Channel, handler: NIOLoopBound<MQTTClientHandler>, connAck: MQTTConnAck, ended: EventLoopFuture<MQTTConnectionEnd>) {
        self.channel = channel
        self.handler = handler
        self.connAck = connAck
        self.ended = ended
    }

    /// Connects to `address` (TLS when the configuration has it), sends CONNECT and returns once
    /// the broker accepted it; a refusal is ``MQTTBridgeError/rejected(reasonCode:reason:)``
    /// with the CONNACK's code.
    ///
    /// - Parameters:
    ///   - answers: where ticketed operations are answered.
    ///   - onMessage: called on the event loop for every message on this client's subscriptions.
    package static func connect(
        to address: MQTTBrokerAddress, configuration: MQTTBridgeConfiguration, group: any EventLoopGroup,
        maximumPacketSize: Int = 1 << 20, answers: Answers?,
        onMessage: @escaping @Sendable (MQTTMessage) -> Void = { _ in }
    ) -> EventLoopFuture<MQTTClientConnection> {
        let eventLoop = group.next()
        var connect = MQTTConnectPacket(
            version: configuration.protocolVersion, clientID: configuration.clientID,
            keepAliveSeconds: UInt16(clamping: configuration.keepAliveSeconds), cleanStart: configuration.cleanStart)
        connect.username = configuration.username
        connect.password = configuration.password
        if configuration.protocolVersion == .v5 { connect.maximumPacketSize = UInt32(maximumPacketSize) }
        let connectPacket = connect
        let tls: NIOSSLContext?
        do {
            tls = try configuration.tls.map { try makeTLSContext($0) }
        } catch {
            return eventLoop.makeFailedFuture(MQTTBridgeError.brokerUnavailable("TLS settings: \(error)"))
        }
        let maximumInFlight = configuration.maxInflight
        let connAck = eventLoop.makePromise(of: MQTTConnAck.self)
        let ended = eventLoop.makePromise(of: MQTTConnectionEnd.self)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        let hostname = address.host.isIPAddress ? nil : address.host
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostname))
                    }
                    let handler = MQTTClientHandler(
                        connect: connectPacket, maximumInFlight: maximumInFlight, maximumPacketSize: maximumPacketSize,
                        connAck: connAck, ended: ended, answers: answers, eventLoop: channel.eventLoop, onMessage: onMessage)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        return bootstrap.connect(host: address.host, port: address.port).flatMapError { error in
            connAck.fail(error)
            ended.succeed(MQTTConnectionEnd(reason: "\(error)", reasonCode: nil, error: .brokerUnavailable("\(error)")))
            return eventLoop.makeFailedFuture(MQTTBridgeError.brokerUnavailable("cannot connect to \(address): \(error)"))
        }.flatMap { channel in
            let timeout = eventLoop.scheduleTask(in: .seconds(10)) {
                connAck.fail(MQTTBridgeError.brokerUnavailable("no CONNACK from \(address) within 10 s"))
                channel.close(promise: nil)
            }
            return connAck.futureResult.always { _ in timeout.cancel() }.flatMapThrowing { answer in
                let handler = try channel.pipeline.syncOperations.handler(type: MQTTClientHandler.self)
                return MQTTClientConnection(
                    channel: channel, handler: NIOLoopBound(handler, eventLoop: eventLoop), connAck: answer, ended: ended.futureResult)
            }
        }
    }

    /// Connects as ``connect(to:configuration:group:maximumPacketSize:answers:onMessage:)`` does.
    package static func connect(
        to address: MQTTBrokerAddress, configuration: MQTTBridgeConfiguration, group: any EventLoopGroup,
        maximumPacketSize: Int = 1 << 20, onMessage: @escaping @Sendable (MQTTMessage) -> Void = { _ in }
    ) async throws -> MQTTClientConnection {
        try await connect(to: address, configuration: configuration, group: group, maximumPacketSize: maximumPacketSize, answers: nil, onMessage: onMessage).get()
    }

    private static func makeTLSContext(_ settings: MQTTBridgeConfiguration.TLS) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = settings.caFile { tls.trustRoots = .file(caFile) }
        if let certificateFile = settings.certificateFile {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
        }
        if let privateKeyFile = settings.privateKeyFile { tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem)) }
        return try NIOSSLContext(configuration: tls)
    }

    // MARK: Publishing

    /// Publishes one message and returns the broker's answer (QoS 1) or once written (QoS 0).
    package func publish(
        topic: String, payload: ByteBuffer, qos: MQTTQoS = .atLeastOnce, retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) -> EventLoopFuture<MQTTPublishAck> {
        let header = MQTTPublishHeader(topic: topic, packetID: qos == .atLeastOnce ? 1 : nil, retain: retain, properties: properties)
        let promise = channel.eventLoop.makePromise(of: MQTTPublishAck.self)
        do {
            try header.validate()
        } catch {
            promise.fail(MQTTBridgeError.invalidTopic(topic))
            return promise.futureResult
        }
        onLoop { handler in
            handler.publish(header, payload: payload, waiter: .single(promise))
            handler.flush()
        }
        return promise.futureResult
    }

    /// Publishes `payload` to every message's topic with its own properties, flushed once; the
    /// result per message, in order, once the broker has answered for all.
    package func publish(
        batch: [MQTTBatchMessage], payload: ByteBuffer, qos: MQTTQoS = .atLeastOnce, retain: Bool = false
    ) -> EventLoopFuture<[Result<MQTTPublishAck, MQTTBridgeError>]> {
        let promise = channel.eventLoop.makePromise(of: [Result<MQTTPublishAck, MQTTBridgeError>].self)
        onLoop { handler in
            let collector = MQTTBatchCollector(count: batch.count, promise: promise)
            for (index, message) in batch.enumerated() {
                let header = MQTTPublishHeader(
                    topic: message.topic, packetID: qos == .atLeastOnce ? 1 : nil, retain: retain, properties: message.properties)
                do {
                    try header.validate()
                } catch {
                    collector.complete(index, .failure(.invalidTopic(message.topic)))
                    continue
                }
                handler.publish(header, payload: payload, waiter: .batch(collector, index: index))
            }
            handler.flush()
        }
        return promise.futureResult
    }

    /// Publishes validated messages whose answers go to the connection's ``Answers`` under
    /// their tickets (a QoS 0 message is answered once written), flushed once.
    package func publish(ticketed messages: [(header: MQTTPublishHeader, ticket: Int32)], payload: ByteBuffer) {
        onLoop { handler in
            for message in messages { handler.publish(message.header, payload: payload, waiter: .ticket(message.ticket)) }
            handler.flush()
        }
    }

    /// Publishes one validated message answered under `ticket`.
    package func publish(_ header: MQTTPublishHeader, payload: ByteBuffer, ticket: Int32) {
        onLoop { handler in
            handler.publish(header, payload: payload, waiter: .ticket(ticket))
            handler.flush()
        }
    }

    // MARK: Subscriptions

    /// Subscribes to `filter`; returns the broker's reason code (the granted QoS, or ≥ 0x80).
    package func subscribe(_ filter: String, qos: MQTTQoS) async throws -> UInt8 {
        let promise = channel.eventLoop.makePromise(of: [UInt8].self)
        onLoop { $0.send(subscription: filter, qos: qos, waiter: .subscription(promise)) }
        return try await promise.futureResult.get().first ?? 0x80
    }

    /// Sends SUBSCRIBE (`qos` set) or UNSUBSCRIBE for `filter`, answered under `ticket` (with
    /// the first reason code), or without an answer.
    package func send(subscription filter: String, qos: MQTTQoS?, ticket: Int32?) {
        onLoop { $0.send(subscription: filter, qos: qos, waiter: ticket.map { .ticket($0) } ?? .ignored) }
    }

    /// Sends DISCONNECT and closes the connection; operations still open fail.
    package func disconnect() {
        onLoop { $0.disconnect() }
    }

    /// Sends DISCONNECT, closes the connection and waits until it is closed.
    package func close() async {
        disconnect()
        try? await channel.closeFuture.get()
    }

    private func onLoop(_ body: @escaping @Sendable (MQTTClientHandler) -> Void) {
        if channel.eventLoop.inEventLoop {
            body(handler.value)
        } else {
            let handler = self.handler
            channel.eventLoop.execute { body(handler.value) }
        }
    }
}

extension String {
    /// Whether this is an IPv4 or IPv6 address literal (TLS sends no SNI for those).
    var isIPAddress: Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, self, &v4) == 1 || inet_pton(AF_INET6, self, &v6) == 1
    }
}
