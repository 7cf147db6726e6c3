package import NIOCore
import NIOPosix

/// One MQTT connection to a broker on a NIO channel: the client of Pushgate's broker side
/// written on the same event loops as its HTTP side, without libmosquitto's network thread.
///
/// Publishes may come from any thread; each is encoded straight into an outbound buffer on the
/// connection's event loop, and its PUBACK is parsed from a buffered read. A batch shares one
/// payload buffer among its copies and is flushed once.
package final class MQTTClientConnection: Sendable {
    /// The connection's channel.
    package let channel: any Channel
    private let handler: NIOLoopBound<MQTTClientHandler>
    /// The broker's CONNACK.
    package let connAck: MQTTConnAck

    private init(channel: any Channel, handler: NIOLoopBound<MQTTClientHandler>, connAck: MQTTConnAck) {
        self.channel = channel
        self.handler = handler
        self.connAck = connAck
    }

    /// Connects to `address`, sends CONNECT and returns once the broker accepted it.
    ///
    /// - Parameters:
    ///   - onMessage: called on the event loop for every message on this client's subscriptions.
    package static func connect(
        to address: MQTTBrokerAddress, configuration: MQTTBridgeConfiguration, group: any EventLoopGroup,
        maximumPacketSize: Int = 1 << 20,
        onMessage: @escaping @Sendable (MQTTMessage) -> Void = { _ in }
    ) async throws -> MQTTClientConnection {
        var connect = MQTTConnectPacket(
            version: configuration.protocolVersion, clientID: configuration.clientID,
            keepAliveSeconds: UInt16(clamping: configuration.keepAliveSeconds), cleanStart: configuration.cleanStart)
        connect.username = configuration.username
        connect.password = configuration.password
        if configuration.protocolVersion == .v5 {
            connect.maximumPacketSize = UInt32(maximumPacketSize)
        }
        let maximumInFlight = configuration.maxInflight
        let connectPacket = connect
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .connect(host: address.host, port: address.port)
            .get()
        let connAck = channel.eventLoop.makePromise(of: MQTTConnAck.self)
        let handler = try await channel.eventLoop.submit {
            let handler = MQTTClientHandler(
                connect: connectPacket, maximumInFlight: maximumInFlight, maximumPacketSize: maximumPacketSize,
                connAck: connAck, onMessage: onMessage)
            try channel.pipeline.syncOperations.addHandler(handler)
            return NIOLoopBound(handler, eventLoop: channel.eventLoop)
        }.get()
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(10)) {
            connAck.fail(MQTTBridgeError.brokerUnavailable("no CONNACK within 10 s"))
            channel.close(promise: nil)
        }
        defer { timeout.cancel() }
        let answer = try await connAck.futureResult.get()
        return MQTTClientConnection(channel: channel, handler: handler, connAck: answer)
    }

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

    /// Subscribes to `filter`; returns the broker's reason code (the granted QoS, or ≥ 0x80).
    package func subscribe(_ filter: String, qos: MQTTQoS) async throws -> UInt8 {
        let promise = channel.eventLoop.makePromise(of: [UInt8].self)
        onLoop { $0.send(subscription: filter, qos: qos, promise: promise) }
        return try await promise.futureResult.get().first ?? 0x80
    }

    /// Sends DISCONNECT and closes the connection; outcomes still open fail.
    package func close() async {
        onLoop { $0.disconnect() }
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
