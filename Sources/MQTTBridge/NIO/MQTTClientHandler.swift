import NIOCore

/// One MQTT connection's protocol state, on its channel's event loop: frames the broker's bytes
/// into packets, answers them, and writes publishes with packet identifiers it hands out.
///
/// Publishes beyond the broker's Receive Maximum wait here, unsent, and go out as PUBACKs free
/// their slots; every waiting publish has its outcome (a PUBACK's reason code, or the failure
/// that ended the connection). Reads are buffered, so many PUBACKs arriving together are parsed
/// from one socket read.
final class MQTTClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What a publish's outcome goes to.
    enum Waiter {
        case single(EventLoopPromise<MQTTPublishAck>)
        case batch(MQTTBatchCollector, index: Int)

        func complete(_ result: Result<MQTTPublishAck, MQTTBridgeError>) {
            switch self {
            case .single(let promise): promise.completeWith(result.mapError { $0 })
            case .batch(let collector, let index): collector.complete(index, result)
            }
        }
    }

    /// A publish not yet written: the window is full.
    private struct Unsent {
        var header: MQTTPublishHeader
        var payload: ByteBuffer
        var waiter: Waiter?
    }

    private enum State {
        case connecting(EventLoopPromise<MQTTConnAck>)
        case connected
        case closed(MQTTBridgeError)
    }

    let version: MQTTBridgeConfiguration.ProtocolVersion
    private let connect: MQTTConnectPacket
    private let keepAlive: TimeAmount?
    private let maximumPacketSize: Int
    private let onMessage: @Sendable (MQTTMessage) -> Void
    private var state: State
    private var context: ChannelHandlerContext?
    private var inbound: ByteBuffer?
    /// The outcome of each QoS 1 publish or (un)subscribe in flight, by packet identifier.
    private var waiting: [Waiter?] = Array(repeating: nil, count: 65_536)
    private var subscriptionWaiters: [UInt16: EventLoopPromise<[UInt8]>] = [:]
    private var nextPacketID: UInt16 = 1
    private var inFlight = 0
    private var window: Int
    private var unsent = CircularBuffer<Unsent>()
    private var brokerMaximumPacketSize = Int.max
    private var pingOutstanding = false
    private var keepAliveTask: RepeatedTask?

    init(
        connect: MQTTConnectPacket, maximumInFlight: Int, maximumPacketSize: Int,
        connAck: EventLoopPromise<MQTTConnAck>, onMessage: @escaping @Sendable (MQTTMessage) -> Void
    ) {
        self.version = connect.version
        self.connect = connect
        self.keepAlive = connect.keepAliveSeconds > 0 ? .seconds(Int64(connect.keepAliveSeconds)) : nil
        self.window = max(1, maximumInFlight)
        self.maximumPacketSize = maximumPacketSize
        self.onMessage = onMessage
        self.state = .connecting(connAck)
    }

    /// Publishes in flight (written, PUBACK not yet read) and waiting for the window.
    var backlog: (inFlight: Int, unsent: Int) { (inFlight, unsent.count) }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendConnect(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendConnect(context: context)
        context.fireChannelActive()
    }

    private func sendConnect(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64)
        do {
            try connect.write(into: &buffer)
        } catch {
            fail(.client(code: 0, message: "\(error)"), context: context)
            return
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if inbound == nil || inbound!.readableBytes == 0 {
            inbound = bytes
        } else {
            inbound!.writeBuffer(&bytes)
        }
        do {
            while let packet = try MQTTInboundPacket.read(from: &inbound!, version: version, maximumPacketSize: maximumPacketSize) {
                handle(packet, context: context)
                if case .closed = state { return }
            }
        } catch {
            fail(.client(code: 0, message: "malformed packet from the broker: \(error)"), context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let buffer = inbound, buffer.readableBytes == 0 { inbound = nil } else { inbound?.discardReadBytes() }
        context.flush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.connectionLost, context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(.brokerUnavailable("\(error)"), context: context)
    }

    private func handle(_ packet: MQTTInboundPacket, context: ChannelHandlerContext) {
        pingOutstanding = false
        switch (state, packet) {
        case (.connecting(let promise), .connAck(let connAck)):
            guard connAck.accepted else {
                let reason = "connection refused by the broker (0x\(String(connAck.reasonCode, radix: 16)))"
                fail(.rejected(reasonCode: Int(connAck.reasonCode), reason: reason), context: context)
                return
            }
            state = .connected
            if let receiveMaximum = connAck.properties.receiveMaximum { window = min(window, Int(receiveMaximum)) }
            if let maximum = connAck.properties.maximumPacketSize { brokerMaximumPacketSize = Int(maximum) }
            if let keepAlive {
                let interval = connAck.properties.serverKeepAlive.map { TimeAmount.seconds(Int64(max($0, 1))) } ?? keepAlive
                let this = NIOLoopBound(self, eventLoop: context.eventLoop)
                keepAliveTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                    this.value.keepAliveTick()
                }
            }
            promise.succeed(connAck)
        case (.connected, .pubAck(let packetID, let reasonCode, let reasonString)):
            guard let waiter = waiting[Int(packetID)] else { return }  // not ours (a resent duplicate)
            waiting[Int(packetID)] = nil
            inFlight -= 1
            if reasonCode >= 0x80 {
                waiter.complete(.failure(.rejected(reasonCode: Int(reasonCode), reason: reasonString ?? MQTTClientHandler.reason(reasonCode))))
            } else {
                waiter.complete(.success(MQTTPublishAck(reasonCode: Int(reasonCode))))
            }
            sendUnsent(context: context)
        case (.connected, .publish(let publish)):
            if let packetID = publish.packetID {
                var buffer = context.channel.allocator.buffer(capacity: 4)
                MQTTControlPacket.pubAck(packetID: packetID, reasonCode: 0).write(into: &buffer, version: version)
                context.write(wrapOutboundOut(buffer), promise: nil)
            }
            onMessage(MQTTMessage(
                topic: publish.topic, payload: publish.payload, qos: publish.qos.rawValue, retain: publish.retain,
                properties: publish.properties.messageProperties))
        case (.connected, .subAck(let packetID, let codes, _)), (.connected, .unsubAck(let packetID, let codes)):
            subscriptionWaiters.removeValue(forKey: packetID)?.succeed(codes)
        case (.connected, .pingResp):
            break
        case (_, .disconnect(let reasonCode, let reasonString, _)):
            let reason = reasonString ?? MQTTClientHandler.reason(reasonCode)
            fail(.brokerUnavailable("the broker disconnected: \(reason) (0x\(String(reasonCode, radix: 16)))"), context: context)
        default:
            fail(.client(code: 0, message: "unexpected packet from the broker"), context: context)
        }
    }

    private func keepAliveTick() {
        guard let context, case .connected = state else { return }
        if pingOutstanding {
            fail(.brokerUnavailable("the broker did not answer a PINGREQ within the keep-alive"), context: context)
            return
        }
        pingOutstanding = true
        var buffer = context.channel.allocator.buffer(capacity: 2)
        MQTTControlPacket.pingReq.write(into: &buffer, version: version)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    // MARK: - Publishing (on the event loop)

    /// Writes a publish, or queues it while the window is full; `flush` is left to the caller so
    /// a batch goes out in one write. QoS 0 completes once written.
    func publish(_ header: MQTTPublishHeader, payload: ByteBuffer, waiter: Waiter?) {
        guard let context, case .connected = state else {
            if case .closed(let error) = state { waiter?.complete(.failure(error.notSent)) } else { waiter?.complete(.failure(.brokerUnavailable("not connected"))) }
            return
        }
        if header.packetSize(payloadLength: payload.readableBytes, version: version) > brokerMaximumPacketSize {
            waiter?.complete(.failure(.packetTooLarge))
            return
        }
        guard waiter == nil || header.packetID == nil || inFlight < window && unsent.isEmpty else {
            unsent.append(Unsent(header: header, payload: payload, waiter: waiter))
            return
        }
        write(header, payload: payload, waiter: waiter, context: context)
    }

    private func write(_ header: MQTTPublishHeader, payload: ByteBuffer, waiter: Waiter?, context: ChannelHandlerContext) {
        var header = header
        if header.packetID != nil, let waiter {
            let id = allocatePacketID(for: waiter)
            header.packetID = id
            inFlight += 1
        }
        var buffer = context.channel.allocator.buffer(capacity: header.packetSize(payloadLength: 0, version: version) + 8)
        header.write(into: &buffer, payloadLength: payload.readableBytes, version: version)
        context.write(wrapOutboundOut(buffer), promise: nil)
        // The payload goes out as its own buffer: a fan-out's copies share one, uncopied.
        context.write(wrapOutboundOut(payload), promise: nil)
        if header.packetID == nil { waiter?.complete(.success(MQTTPublishAck(reasonCode: 0))) }
    }

    private func allocatePacketID(for waiter: Waiter) -> UInt16 {
        while waiting[Int(nextPacketID)] != nil {
            nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1
        }
        let id = nextPacketID
        waiting[Int(id)] = waiter
        nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1
        return id
    }

    private func sendUnsent(context: ChannelHandlerContext) {
        while inFlight < window, let next = unsent.popFirst() {
            write(next.header, payload: next.payload, waiter: next.waiter, context: context)
        }
    }

    /// Flushes what ``publish(_:payload:waiter:)`` wrote.
    func flush() { context?.flush() }

    /// Sends SUBSCRIBE or UNSUBSCRIBE; the promise gets the reason codes.
    func send(subscription filter: String, qos: MQTTQoS?, promise: EventLoopPromise<[UInt8]>) {
        guard let context, case .connected = state else {
            promise.fail(MQTTBridgeError.brokerUnavailable("not connected"))
            return
        }
        var id = UInt16.random(in: 1...UInt16.max)
        while subscriptionWaiters[id] != nil { id = UInt16.random(in: 1...UInt16.max) }
        // Subscription packet identifiers are kept apart from publishes' by taking the slot too.
        guard waiting[Int(id)] == nil else { return send(subscription: filter, qos: qos, promise: promise) }
        let packet = qos.map { MQTTSubscriptionPacket(subscribe: filter, qos: $0, packetID: id) } ?? MQTTSubscriptionPacket(unsubscribe: filter, packetID: id)
        var buffer = context.channel.allocator.buffer(capacity: 16 + filter.utf8.count)
        do {
            try packet.write(into: &buffer, version: version)
        } catch {
            promise.fail(MQTTBridgeError.invalidTopic(filter))
            return
        }
        subscriptionWaiters[id] = promise
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Sends DISCONNECT and closes.
    func disconnect() {
        guard let context else { return }
        if case .connected = state {
            var buffer = context.channel.allocator.buffer(capacity: 2)
            MQTTControlPacket.disconnect(reasonCode: 0).write(into: &buffer, version: version)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        fail(.shutDown, context: context)
    }

    /// Ends the connection: every outcome still open gets `error` (publishes never written get
    /// the not-sent form of it).
    private func fail(_ error: MQTTBridgeError, context: ChannelHandlerContext) {
        if case .closed = state { return }
        let previous = state
        state = .closed(error)
        keepAliveTask?.cancel()
        keepAliveTask = nil
        if case .connecting(let promise) = previous { promise.fail(error) }
        for index in waiting.indices where waiting[index] != nil {
            let waiter = waiting[index]!
            waiting[index] = nil
            waiter.complete(.failure(error == .shutDown ? .connectionLost : error.inFlight))
        }
        inFlight = 0
        while let next = unsent.popFirst() { next.waiter?.complete(.failure(error.notSent)) }
        for (_, promise) in subscriptionWaiters { promise.fail(error) }
        subscriptionWaiters = [:]
        context.close(promise: nil)
    }

    /// The MQTT 5 reason code's name for the ones a publisher meets.
    static func reason(_ code: UInt8) -> String {
        switch code {
        case 0x10: "no matching subscribers"
        case 0x80: "unspecified error"
        case 0x83: "implementation specific error"
        case 0x87: "not authorized"
        case 0x89: "server busy"
        case 0x8B: "server shutting down"
        case 0x8D: "keep alive timeout"
        case 0x8E: "session taken over"
        case 0x90: "topic name invalid"
        case 0x91: "packet identifier in use"
        case 0x93: "receive maximum exceeded"
        case 0x95: "packet too large"
        case 0x97: "quota exceeded"
        case 0x99: "payload format invalid"
        default: "reason 0x\(String(code, radix: 16))"
        }
    }
}

extension MQTTBridgeError {
    /// This failure, for a publish that was written before it happened: its outcome is unknown.
    var inFlight: MQTTBridgeError {
        switch self {
        case .brokerUnavailable, .client: .connectionLost
        default: self
        }
    }

    /// This failure, for a publish that was never written.
    var notSent: MQTTBridgeError {
        switch self {
        case .connectionLost, .timedOut: .brokerUnavailable("connection lost")
        default: self
        }
    }
}

/// Collects the outcomes of a batch's publishes and completes once all are in.
final class MQTTBatchCollector {
    private var results: [Result<MQTTPublishAck, MQTTBridgeError>]
    private var remaining: Int
    private let promise: EventLoopPromise<[Result<MQTTPublishAck, MQTTBridgeError>]>

    init(count: Int, promise: EventLoopPromise<[Result<MQTTPublishAck, MQTTBridgeError>]>) {
        results = Array(repeating: .failure(.cancelled), count: count)
        remaining = count
        self.promise = promise
        if count == 0 { promise.succeed([]) }
    }

    func complete(_ index: Int, _ result: Result<MQTTPublishAck, MQTTBridgeError>) {
        results[index] = result
        remaining -= 1
        if remaining == 0 { promise.succeed(results) }
    }
}
